"""Training-speed benchmark of the R-VLM scorer (`python -m vidsleuth.evals.bench_retrieval_train`).

Times training over ``--pairs`` question/video pairs on random features of the real sizes
(2560-d visual plus the 30-d colour histograms, 384-d text, observation and question
embeddings, 40 videos of 45-150 chunks, a few observations and words per chunk), so it measures
the trainer alone, without indexing or feature extraction (which ``vidsleuth retriever train``
caches).  The same pairs are trained twice in the same process, with and without the match
signals, and the ratio is printed: what computing them costs.
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
    words = [f"w{i}" for i in range(300)]
    videos = []
    for v in range(40):
        n = int(rng.integers(45, 150))
        chunks = [ChunkSpan(f"c{i}", i, 4.0 * i, 4.0 * i + 4) for i in range(n)]
        texts = [", ".join(rng.choice(words, 4)) for _ in range(n)]
        n_obs = 3 * n
        pairs = np.stack([np.repeat(np.arange(n), 3), rng.permutation(n_obs)], axis=1)
        visual = rng.random((n, 2560 + 30), dtype=np.float32)
        videos.append(
            VideoFeatures(
                f"v{v}",
                chunks,
                visual,
                "bench",
                text=rng.normal(size=(n, 384)).astype(np.float32),
                text_extractor="bench-text",
                chunk_texts=texts,
                obs_vectors=rng.normal(size=(n_obs, 384)).astype(np.float32),
                obs_pairs=pairs,
                colour_dim=30,
            )
        )
    examples = []
    for _ in range(args.pairs):
        v = int(rng.integers(len(videos)))
        s = 4.0 * float(rng.integers(0, len(videos[v]) - 2)) + 1.0
        q_words = " ".join(rng.choice(words, 3))
        examples.append(Example(v, f"When does the text '{q_words}' appear?", [(s, s + 5.0)]))
    q = rng.normal(size=(args.pairs, 384)).astype(np.float32)
    seconds = {}
    for use_match in (False, True):
        t0 = time.perf_counter()
        train(
            videos,
            examples,
            q,
            question_encoder="bench-q",
            cfg=TrainConfig(epochs=args.epochs, threads=args.threads, use_match=use_match),
        )
        seconds[use_match] = time.perf_counter() - t0
    sec = seconds[True]
    print(
        json.dumps(
            {
                "pairs": args.pairs,
                "epochs": args.epochs,
                "seconds": round(sec, 1),
                "pairs_per_second": round(args.pairs * args.epochs / sec, 1),
                "seconds_without_match_signals": round(seconds[False], 1),
                "ratio_with_to_without_match": round(sec / seconds[False], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
