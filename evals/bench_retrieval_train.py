"""Training-speed benchmark of the R-VLM scorer (`python -m vidsleuth.evals.bench_retrieval_train`).

Times training over ``--pairs`` question/video pairs on random features of the real sizes
(2560-d visual, 384-d text and question, 40 videos of 45-150 chunks), so it measures the trainer
alone, without indexing or feature extraction (which ``vidsleuth retriever train`` caches).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main(argv: list[str] | None = None) -> None:
    from vidsleuth.tools.retrieval.base import ChunkSpan, VideoFeatures
    from vidsleuth.tools.retrieval.train import Example, TrainConfig, train

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pairs", type=int, default=10_000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    videos = []
    for v in range(40):
        n = int(rng.integers(45, 150))
        chunks = [ChunkSpan(f"c{i}", i, 4.0 * i, 4.0 * i + 4) for i in range(n)]
        videos.append(
            VideoFeatures(
                f"v{v}",
                chunks,
                rng.random((n, 2560), dtype=np.float32),
                "bench",
                text=rng.normal(size=(n, 384)).astype(np.float32),
                text_extractor="bench-text",
            )
        )
    examples = []
    for _ in range(args.pairs):
        v = int(rng.integers(len(videos)))
        s = 4.0 * float(rng.integers(0, len(videos[v]) - 2)) + 1.0
        examples.append(Example(v, "q", [(s, s + 5.0)]))
    q = rng.normal(size=(args.pairs, 384)).astype(np.float32)
    t0 = time.perf_counter()
    train(
        videos,
        examples,
        q,
        question_encoder="bench-q",
        cfg=TrainConfig(epochs=args.epochs, threads=args.threads),
    )
    sec = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "pairs": args.pairs,
                "epochs": args.epochs,
                "seconds": round(sec, 1),
                "pairs_per_second": round(args.pairs * args.epochs / sec, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
