"""``vidsleuth retriever``: featurize, train and evaluate the chunk retrievers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from vidsleuth.agent.cli.common import JsonOpt, StoreOpt, print_json, progress_bar, settings
from vidsleuth.errors import VidsleuthError

retriever_app = typer.Typer(
    help="Learned chunk retrieval (R-VLM): train and evaluate.", no_args_is_help=True
)

DataOpt = Annotated[
    list[Path],
    typer.Option(
        "--data",
        help="folder of generated videos + needle JSONs (vidsleuth generate; repeat the option "
        "for several folders), or with --task the benchmark's annotations "
        "(video_info.meta.jsonl, the EgoMem folder)",
    ),
]
PerceiveOpt = Annotated[
    str | None,
    typer.Option(
        "--perceive",
        help="perceivers whose observations form the text memory (default: the configured "
        "perceivers except tags, e.g. ocr,objects,speech,subtitles; 'none': frame labels only)",
    ),
]
MatchOpt = Annotated[
    bool,
    typer.Option(
        "--match/--no-match", help="give the scorer the question/observation match signals"
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="no progress bars")]
TaskOpt = Annotated[
    str | None,
    typer.Option(
        "--task", help="take questions and spans from a benchmark (lvbench, egomem) instead"
    ),
]
VideosOpt = Annotated[Path | None, typer.Option("--videos", help="the benchmark's video folder")]
TaskOptionOpt = Annotated[
    list[str] | None, typer.Option("--option", help="task option KEY=VALUE (e.g. offsets=FILE)")
]
# Training options shared by `train` and `ablate`.
EpochsOpt = Annotated[int, typer.Option("--epochs", min=1)]
ValFractionOpt = Annotated[float, typer.Option("--val-fraction", min=0.0, max=0.9)]
SigmaOpt = Annotated[
    float, typer.Option("--sigma", help="target smoothing over chunks (0 chosen on validation)")
]
TauOpt = Annotated[float, typer.Option("--tau", help="softmax temperature")]
VisualDropOpt = Annotated[
    float,
    typer.Option(
        "--visual-drop",
        min=0.0,
        max=1.0,
        help="share of training questions answered without the visual terms (modality dropout)",
    ),
]
SeedOpt = Annotated[int, typer.Option("--seed")]


SceneShiftOpt = Annotated[
    float,
    typer.Option(
        "--scene-shift",
        min=0.0,
        max=1.0,
        help="share of training questions whose video gets a run of chunks moved off its scene",
    ),
]


def _prepare(
    data: list[Path],
    cfg: Any,
    bar: Any,
    task: str | None = None,
    videos: Path | None = None,
    options: list[str] | None = None,
    perceive: str | None = None,
) -> tuple[list[Any], list[Any]]:
    from vidsleuth.errors import ConfigError
    from vidsleuth.evals.retrieval_data import benchmark_videos, find_needle_videos
    from vidsleuth.memory.store import Store
    from vidsleuth.tools.retrieval.data import prepare_videos, retrieval_perceivers

    if task is None:
        needle_videos = [nv for d in data for nv in find_needle_videos(d)]
    else:
        if len(data) != 1:
            raise ConfigError(f"--task {task} takes one --data (its annotation file or folder)")
        opts = {}
        for o in options or []:
            k, sep, v = o.partition("=")
            if not sep:
                raise ConfigError(f"--option {o!r}: expected KEY=VALUE")
            opts[k] = v
        needle_videos = benchmark_videos(task, data[0], videos, opts)
    names = retrieval_perceivers(cfg, perceive)
    label = "index + " + (f"perceive ({','.join(names)}) + " if names else "") + "featurise"
    task = bar.add_task(label, total=len(needle_videos))
    with Store.open(cfg.store) as st:
        feats = prepare_videos(
            st, needle_videos, cfg, lambda _n, d, _t: bar.update(task, completed=d), names
        )
    return needle_videos, feats


@retriever_app.command("featurize")
def featurize_cmd(
    videos: Annotated[list[Path], typer.Argument(help="video files (indexed first when needed)")],
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Compute and cache the retriever's features (per-frame visual features + text memory)."""
    from vidsleuth.memory.indexer import chunk_plan_for, index_video, plan_key
    from vidsleuth.memory.store import Store
    from vidsleuth.tools.retrieval.features import featurize_video, load_video_features

    cfg = settings(store=store)
    out = []
    with Store.open(cfg.store) as st:
        for v in videos:
            s = index_video(st, v, cfg)
            rec = st.video(s.video_id)
            assert rec is not None
            key = plan_key(chunk_plan_for(rec, cfg), cfg)
            computed = featurize_video(st, rec, key)
            f = load_video_features(st, rec.video_id, key, cfg)
            out.append(
                {
                    "video": str(v),
                    "video_id": rec.video_id,
                    "chunks": len(f),
                    "computed": computed,
                    "visual_extractor": f.visual_extractor,
                    "text_extractor": f.text_extractor,
                }
            )
            if not json_out:
                typer.echo(
                    f"{v}: {rec.video_id} {len(f)} chunks, "
                    f"features {'computed' if computed else 'reused'}"
                )
    if json_out:
        print_json(out)


@retriever_app.command("train")
def train_cmd(
    data: DataOpt,
    out: Annotated[Path, typer.Option("--out", help="checkpoint file to write (.pt)")],
    loss: Annotated[
        str,
        typer.Option(
            "--loss",
            help="infonce (default: best held-out recall), soft (R-VLM's soft matching) or bce",
        ),
    ] = "infonce",
    epochs: EpochsOpt = 15,
    val_fraction: ValFractionOpt = 0.2,
    sigma: SigmaOpt = 0.0,
    tau: TauOpt = 1.0,
    seed: SeedOpt = 0,
    visual_drop: VisualDropOpt = 0.4,
    scene_shift: SceneShiftOpt = 0.5,
    task: TaskOpt = None,
    videos: VideosOpt = None,
    option: TaskOptionOpt = None,
    perceive: PerceiveOpt = None,
    match: MatchOpt = True,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train the R-VLM scorer on a folder of needle videos (split by video); writes CKPT,
    CKPT.json (metadata) and CKPT.png (loss curve)."""
    from vidsleuth.errors import ConfigError
    from vidsleuth.tools.retrieval.data import training_split
    from vidsleuth.tools.retrieval.embedding import QuestionEncoder
    from vidsleuth.tools.retrieval.features import default_text_embedder
    from vidsleuth.tools.retrieval.losses import LOSSES
    from vidsleuth.tools.retrieval.model import save_checkpoint
    from vidsleuth.tools.retrieval.train import plot_history, train

    if loss not in LOSSES:
        raise ConfigError(f"--loss {loss!r}: choose from {', '.join(LOSSES)}")
    cfg = settings(store=store)
    with progress_bar(quiet or json_out) as bar:
        nvs, feats = _prepare(data, cfg, bar, task, videos, option, perceive)
        split = training_split(nvs, feats, val_fraction, seed)
        tr_ex, va_ex = split.train, split.val
        enc = QuestionEncoder(default_text_embedder(cfg))
        q_tr = enc.encode([e.question for e in tr_ex]) if tr_ex else None
        q_va = enc.encode([e.question for e in va_ex]) if va_ex else None
        task = bar.add_task(f"train ({loss})", total=None)

        def progress(step: int, total: int, value: float) -> None:
            bar.update(
                task, completed=step, total=total, description=f"train ({loss}) loss {value:.3f}"
            )

        tcfg = _train_config(loss, epochs, sigma, tau, seed, match, visual_drop, scene_shift)
        res = train(
            split.videos,
            tr_ex,
            q_tr if q_tr is not None else [],
            question_encoder=enc.id,
            cfg=tcfg,
            val_examples=va_ex,
            val_qvecs=q_va,
            progress=progress,
        )
    info = {
        "data": [str(d.resolve()) for d in data],
        "train_videos": split.train_ids,
        "val_videos": split.val_ids,
        "train_questions": res.examples,
        "val_questions": len(va_ex),
        "seconds": round(res.seconds, 1),
        "train_config": vars(tcfg),
        "history": {k: v for k, v in res.history.items() if k != "step_loss"},
    }
    save_checkpoint(out, res.model, res.config, info)
    png = out.with_suffix(".png")
    plot_history(res.history, str(png))
    summary = {
        "checkpoint": str(out),
        "loss_curve": str(png),
        **{k: info[k] for k in ("train_questions", "val_questions", "seconds")},
        "final_loss": res.history["epoch_loss"][-1],
        "val_recall@5": _best(res.history),
    }
    if json_out:
        print_json(summary)
    else:
        typer.echo(
            f"wrote {out} ({res.examples} questions on {len(split.train_ids)} videos, "
            f"{res.seconds:.0f}s); "
            f"final loss {summary['final_loss']:.3f}, held-out recall@5 {summary['val_recall@5']}; "
            f"loss curve {png}"
        )


def _train_config(
    loss: str,
    epochs: int,
    sigma: float,
    tau: float,
    seed: int,
    match: bool,
    visual_drop: float,
    scene_shift: float,
) -> Any:
    """The training options shared by ``train`` and ``ablate``."""
    from vidsleuth.tools.retrieval.train import TrainConfig

    return TrainConfig(
        loss=loss,  # type: ignore[arg-type]
        epochs=epochs,
        sigma=sigma,
        tau=tau,
        seed=seed,
        use_match=match,
        visual_drop=visual_drop,
        scene_shift=scene_shift,
    )


def _best(hist: dict[str, list[float]]) -> float | None:
    """Validation recall@5 of the epoch that was kept."""
    if not hist.get("val_recall@5"):
        return None
    return hist["val_recall@5"][int(hist.get("best_epoch", [len(hist["val_recall@5"])])[0]) - 1]


def _reindex(examples: list[Any], mapping: list[int]) -> list[Any]:
    for e in examples:
        e.video = mapping[e.video]
    return examples


@retriever_app.command("eval")
def eval_cmd(
    data: DataOpt,
    ckpt: Annotated[
        Path | None, typer.Option("--ckpt", help="R-VLM checkpoint (default: shipped)")
    ] = None,
    k: Annotated[int | None, typer.Option("--k", help="K of covered@K and frames@K")] = None,
    task: TaskOpt = None,
    videos: VideosOpt = None,
    option: TaskOptionOpt = None,
    perceive: PerceiveOpt = None,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Compare uniform, embedding, lexical and rvlm on the needle videos of DATA (held-out
    videos)."""
    from vidsleuth.evals.retrieval_eval import evaluate, format_report
    from vidsleuth.tools.retrieval.data import build_examples
    from vidsleuth.tools.retrieval.embedding import QuestionEncoder
    from vidsleuth.tools.retrieval.features import default_text_embedder
    from vidsleuth.tools.retrieval.rvlm import RVLMRetriever

    cfg = settings(store=store)
    kk = k or cfg.retriever_k
    enc = QuestionEncoder(default_text_embedder(cfg))
    rvlm = RVLMRetriever.load(ckpt or cfg.retriever_ckpt, enc)
    with progress_bar(quiet or json_out) as bar:
        nvs, feats = _prepare(data, cfg, bar, task, videos, option, perceive)
        examples = build_examples(nvs, "all")
        retrievers: dict[str, Any] = {
            **zero_shot_retrievers(enc),
            "rvlm": rvlm,
        }
        task = bar.add_task("evaluate", total=None)
        report = evaluate(
            retrievers,
            feats,
            examples,
            k=kk,
            progress=lambda d, t: bar.update(task, completed=d, total=t),
            mass=cfg.retriever_mass,
            budget=cfg.retriever_budget,
            frames_per_chunk=cfg.retriever_frames_per_chunk,
        )
    if json_out:
        print_json(report)
    else:
        typer.echo(format_report(report, kk))


@retriever_app.command("ablate")
def ablate_cmd(
    data: DataOpt,
    test: Annotated[
        list[Path], typer.Option("--test", help="held-out needle videos to evaluate on")
    ],
    losses: Annotated[
        str, typer.Option("--losses", help="comma-separated losses")
    ] = "soft,bce,infonce",
    epochs: EpochsOpt = 15,
    val_fraction: ValFractionOpt = 0.2,
    sigma: SigmaOpt = 0.0,
    tau: TauOpt = 1.0,
    seed: SeedOpt = 0,
    visual_drop: VisualDropOpt = 0.4,
    scene_shift: SceneShiftOpt = 0.5,
    perceive: PerceiveOpt = None,
    match: MatchOpt = True,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Loss ablation: train one scorer per loss on DATA (same split, same seed) and evaluate each
    on the TEST videos beside the zero-shot baselines."""
    from vidsleuth.evals.retrieval_eval import evaluate, format_report
    from vidsleuth.tools.retrieval.data import build_examples, training_split
    from vidsleuth.tools.retrieval.embedding import QuestionEncoder
    from vidsleuth.tools.retrieval.features import default_text_embedder
    from vidsleuth.tools.retrieval.rvlm import RVLMRetriever
    from vidsleuth.tools.retrieval.train import train

    cfg = settings(store=store)
    with progress_bar(quiet or json_out) as bar:
        nvs, feats = _prepare(data, cfg, bar, perceive=perceive)
        t_nvs, t_feats = _prepare(test, cfg, bar, perceive=perceive)
        overlap = {f.video_id for f in feats} & {f.video_id for f in t_feats}
        if overlap:
            raise VidsleuthError(f"{len(overlap)} videos are both in --data and --test")
        split = training_split(nvs, feats, val_fraction, seed)
        tr_ex, va_ex = split.train, split.val
        n = len(split.videos)
        te_ex = _reindex(build_examples(t_nvs, "all"), [n + i for i in range(len(t_nvs))])
        allf = split.videos + t_feats
        enc = QuestionEncoder(default_text_embedder(cfg))
        q_tr = enc.encode([e.question for e in tr_ex])
        q_va = enc.encode([e.question for e in va_ex]) if va_ex else None
        retrievers: dict[str, Any] = zero_shot_retrievers(enc)
        timing: dict[str, float] = {}
        val: dict[str, float | None] = {}
        for loss in losses.split(","):
            task = bar.add_task(f"train ({loss})", total=None)
            res = train(
                allf,
                tr_ex,
                q_tr,
                question_encoder=enc.id,
                cfg=_train_config(loss, epochs, sigma, tau, seed, match, visual_drop, scene_shift),
                val_examples=va_ex,
                val_qvecs=q_va,
                progress=lambda d, t, _v, task=task: bar.update(task, completed=d, total=t),
            )
            retrievers[f"rvlm-{loss}"] = RVLMRetriever(res.model, res.config, enc)
            timing[loss] = round(res.seconds, 1)
            val[loss] = _best(res.history)
        report = evaluate(
            retrievers,
            allf,
            te_ex,
            k=cfg.retriever_k,
            mass=cfg.retriever_mass,
            budget=cfg.retriever_budget,
            frames_per_chunk=cfg.retriever_frames_per_chunk,
        )
    for loss, sec in timing.items():
        report[f"rvlm-{loss}"]["train_seconds"] = sec
        report[f"rvlm-{loss}"]["val_recall@5"] = val[loss]
    if json_out:
        print_json(report)
    else:
        typer.echo(format_report(report, cfg.retriever_k))


def zero_shot_retrievers(enc: Any) -> dict[str, Any]:
    """The baselines every evaluation reports: uniform, embedding (max over observations) and
    lexical (IDF word overlap)."""
    from vidsleuth.tools.retrieval.embedding import EmbeddingRetriever, LexicalRetriever
    from vidsleuth.tools.retrieval.uniform import UniformRetriever

    return {
        "uniform": UniformRetriever(),
        "embedding": EmbeddingRetriever(enc),
        "lexical": LexicalRetriever(),
    }


def register(app: typer.Typer) -> None:
    app.add_typer(retriever_app, name="retriever")
