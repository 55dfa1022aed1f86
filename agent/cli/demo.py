"""``vidsleuth demo``: the main job on the embedded CPU default, end to end (``make demo``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vidsleuth.agent.cli.common import StoreOpt, progress_bar, settings

if TYPE_CHECKING:
    from vidsleuth.settings import Settings

DEMO_SEED = 7
#: 10 fps keeps generation and decoding of the demo well inside the 10-minute budget
DEMO_FPS = 10.0


def demo_cmd(
    minutes: Annotated[float, typer.Option("--minutes", help="length of the demo video")] = 10.0,
    seed: Annotated[int, typer.Option("--seed")] = DEMO_SEED,
    fps: Annotated[float, typer.Option("--fps", help="frame rate of the demo video")] = DEMO_FPS,
    ask: Annotated[
        bool, typer.Option("--ask/--no-ask", help="answer one question per needle kind")
    ] = True,
    store: StoreOpt = None,
) -> None:
    """Generate the demo video (once), index it, then answer one question per needle kind with
    the agent and the embedded CPU models, checking each answer against the ground truth."""
    from vidsleuth.evals.synth.generator import generate, load_needles
    from vidsleuth.memory.indexer import index_video
    from vidsleuth.memory.store import Store

    cfg = settings(store=store)
    out_dir = cfg.store / "demo"
    out_dir.mkdir(parents=True, exist_ok=True)
    video = out_dir / f"demo-{minutes:g}min-seed{seed}.mp4"
    meta = video.with_suffix(".json")
    if video.exists() and meta.exists():
        typer.echo(f"demo video: {video} (already generated)", err=True)
        needles = load_needles(meta)
    else:
        typer.echo(f"generating a {minutes:g}-minute demo video: {video}", err=True)
        generate(video, minutes=minutes, seed=seed, fps=fps, progress=True)
        needles = load_needles(meta)
    with Store.open(cfg.store) as st, progress_bar() as bar:
        task = bar.add_task(f"index {video.name}", total=None)
        summary = index_video(
            st, video, cfg, progress=lambda d, t: bar.update(task, completed=d, total=t)
        )
        stats = st.stats(summary.video_id)
    _print_summary(video, summary.as_dict(), stats, needles)
    if ask:
        _ask_demo_questions(cfg, video, meta, seed)


def _ask_demo_questions(cfg: Settings, video: Path, meta: Path, seed: int) -> None:
    """One *what* question per needle kind (the haystack builders), answered by the agent."""
    import time

    from vidsleuth.agent.session import VideoAgent
    from vidsleuth.evals.haystack import KINDS, build_questions
    from vidsleuth.evals.synth.schema import load_needles
    from vidsleuth.graphs.prompts import fmt_span
    from vidsleuth.options import LETTERS

    manifest = load_needles(meta).model_dump()
    questions = build_questions(manifest, video.stem, seed=int(manifest["seed"]))
    picked = []
    for kind in KINDS:
        q = next((q for q in questions if q.categories == ["what", kind]), None)
        if q is not None:
            picked.append(q)
    out = sys.stdout
    right = 0
    t_all = time.perf_counter()
    with VideoAgent(cfg) as agent:
        with progress_bar() as bar:
            tasks: dict[str, int] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(f"{stage} {video.name}", total=total)
                bar.update(tasks[stage], completed=done, total=total)

            t0 = time.perf_counter()
            record = agent.video(video, progress=progress)
        out.write(f"\nperception + memory ready in {time.perf_counter() - t0:.1f} s\n")
        for q in picked:
            letters = list(q.options)
            ans = agent.ask(
                record.video_id, q.question, [q.options[x] for x in letters], session=None
            )
            agent.session_id = None  # every demo question starts a fresh session
            got = letters[LETTERS.index(ans.answer)] if ans.answer else None
            ok = got == q.answer
            right += ok
            out.write(f"\nQ [{q.categories[1]}] {q.question}\n")
            for x in letters:
                out.write(f"   {x}. {q.options[x]}\n")
            shown = f"{got}. {q.options[got]}" if got else "(no answer)"
            out.write(
                f"answer    {shown}  confidence {ans.confidence:.2f}  ({ans.stop_reason}; "
                f"answered by {ans.answered_by})\n"
            )
            for e in ans.evidence:
                out.write(f"evidence  [{fmt_span(e.t_start, e.t_end)}] {e.why}\n")
            c = ans.cost
            out.write(
                f"cost      {c.get('seconds', 0):.1f} s, {c.get('model_calls', 0)} model call(s), "
                f"{c.get('prompt_tokens', 0) + c.get('completion_tokens', 0)} tokens, "
                f"{c.get('frames_decoded', 0)} frames decoded\n"
            )
            ref = ", ".join(f"[{fmt_span(a, b)}]" for a, b in q.reference_spans)
            verdict = "MATCH" if ok else "MISS"
            out.write(f"truth     {q.answer}. {q.options[q.answer]} at {ref}  -> {verdict}\n")
    n = len(picked)
    out.write(
        f"\naccuracy  {right}/{n} ({100.0 * right / max(1, n):.0f}%) "
        f"in {time.perf_counter() - t_all:.1f} s\n"
    )


def _print_summary(video: Path, summary: dict, stats: dict, needles: object) -> None:
    items = getattr(needles, "needles", None)
    if items is None and isinstance(needles, dict):
        items = needles.get("needles", [])
    out = sys.stdout
    out.write(f"\nvideo     {video}\n")
    out.write(f"video_id  {summary['video_id']}\n")
    out.write(f"duration  {summary['duration_s']:.1f} s\n")
    out.write(
        f"chunks    {summary['chunks_total']} ({summary['chunks_computed']} computed, "
        f"{summary['chunks_reused']} reused) in {summary['seconds']:.1f} s\n"
    )
    out.write(f"frames    {stats['frame_bytes'] / 1e6:.1f} MB of cached frames\n")
    out.write(f"needles   {len(items or [])} hidden in the video (ground truth):\n")
    for n in items or []:
        d = n if isinstance(n, dict) else n.model_dump()
        out.write(
            f"  {d['t_start']:8.2f}-{d['t_end']:<8.2f} {d['kind']:<7} {json.dumps(d['value'])}\n"
        )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_cmd)
