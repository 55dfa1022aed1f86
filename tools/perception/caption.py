"""Chunk captions from a vision-language model: several frames of a chunk in, one sentence out.

The ``caption`` perceiver sends ``caption_frames`` frames of each coarse chunk (evenly spread
over its samples, shrunk to ``vlm_max_side``, at most ``vlm_max_images``) in **one** multi-image
request with a plain-text prompt (many servers refuse a JSON schema together with images), and
stores the reply as a ``caption`` observation spanning the chunk.  Its version is the VLM's
identity plus a hash of the prompt and the parameters, so captions are cached, versioned and
resumed like every other perceiver's (each chunk is stored the moment its reply arrives).

A reply that is empty is not stored (a later run asks again); a server that cannot answer at all
(down, failing after its retries, refusing images) stops the pass with one line.  The captions
are text observations: episodic memory's chunk text, ``memory search``, the retriever's text
features and the agent's evidence read them like OCR lines.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vidsleuth.errors import ModelError
from vidsleuth.tools.models.base import ChatResult, Cost, Message
from vidsleuth.tools.perception.types import Observation
from vidsleuth.versions import version_of

if TYPE_CHECKING:
    from vidsleuth.settings import Settings
    from vidsleuth.tools.video import Frame

CAPTION_PROMPT = (
    "These {n} frames are in time order, from {start} to {end} of a video. In one or two plain "
    "sentences, say what happens in them: who or what is there, what they do, where, and any "
    "words written on screen. Describe only what the frames show."
)
PROMPT_HASH = hashlib.blake2b(CAPTION_PROMPT.encode(), digest_size=6).hexdigest()

#: ``on_unit(i, observations or None, problem or None)``: called as each unit finishes
UnitCallback = Callable[[int, list[Observation] | None, str | None], None]


def caption_params(settings: Settings) -> str:
    """Everything that changes a caption, as the perceiver's cache key in the registry."""
    from vidsleuth.tools.models.factory import vlm_identity

    return (
        f"{vlm_identity(settings)}|{settings.caption_frames}|{settings.vlm_max_side}"
        f"|{settings.vlm_max_images}|{settings.caption_max_tokens}|{settings.vlm_base_url}"
    )


def clock(t: float) -> str:
    """``m:ss.s`` (or ``h:mm:ss``) as the prompt shows times."""
    m, s = divmod(max(0.0, float(t)), 60.0)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:04.1f}" if h else f"{m}:{s:04.1f}"


def spread(items: Sequence[Any], n: int) -> list[Any]:
    """At most ``n`` of ``items``, evenly spread and in order (first and last kept)."""
    if len(items) <= n:
        return list(items)
    if n == 1:
        return [items[len(items) // 2]]
    idx = np.linspace(0, len(items) - 1, n).round().astype(int)
    return [items[i] for i in sorted(set(idx.tolist()))]


def shrink(image: np.ndarray, max_side: int) -> np.ndarray:
    """``image`` with its longest side at most ``max_side`` (an 8000-px frame costs megabytes
    per request and more vision tokens than a context holds)."""
    from vidsleuth.tools.perception.assets import fit_image

    arr = np.ascontiguousarray(np.asarray(image))
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.size == 0:
        raise ModelError(f"cannot send a frame of shape {arr.shape} to the VLM: expected HxWx3")
    arr = arr[:, :, :3].astype(np.uint8, copy=False)
    return fit_image(np.ascontiguousarray(arr), max_side)[0]


def frame_messages(
    images: Sequence[np.ndarray],
    text: str,
    *,
    max_side: int,
    max_images: int,
    system: str | None = None,
) -> list[Message]:
    """One user turn holding the images (shrunk, capped at ``max_images``, evenly spread) and
    then ``text``: the shape every family's chat template places images from."""
    from vidsleuth.tools.models.chat import image_part

    parts: list[dict[str, Any]] = [
        image_part(shrink(img, max_side), max_side=max_side) for img in spread(images, max_images)
    ]
    parts.append({"type": "text", "text": text})
    msgs: list[Message] = [{"role": "system", "content": system}] if system else []
    return [*msgs, {"role": "user", "content": parts}]


class CaptionPerceiver:
    """One caption per chunk from the configured perceiver VLM (``settings.vlm_*``)."""

    name = "caption"
    modality = "frames"

    def __init__(self, settings: Settings, vlm: Any = None) -> None:
        from vidsleuth.tools.models.factory import vlm_identity

        self.settings = settings
        self.vlm_id = vlm_identity(settings) if vlm is None else str(vlm.id)
        self.frames_per_unit = settings.caption_frames
        self.max_side = settings.vlm_max_side
        self.max_images = min(settings.vlm_max_images, settings.caption_frames)
        self.max_tokens = settings.caption_max_tokens
        #: chunks handed to the VLM at once (vLLM: one generate call; OpenAI: N in flight)
        self.unit_batch = max(16, 4 * settings.vlm_concurrency)
        self._vlm = vlm
        self._lock = threading.Lock()
        self.usage = Cost()
        self.requests = 0
        self.images_sent = 0

    @cached_property
    def version(self) -> str:
        return version_of(
            vlm=self.vlm_id,
            prompt=PROMPT_HASH,
            frames=self.frames_per_unit,
            max_images=self.max_images,
            max_side=self.max_side,
            max_tokens=self.max_tokens,
        )

    def vlm(self) -> Any:
        with self._lock:
            if self._vlm is None:
                from vidsleuth.tools.models.factory import load_vlm

                self._vlm = load_vlm(self.settings)
            return self._vlm

    def load(self) -> None:
        self.vlm()

    def messages(self, t_start: float, t_end: float, frames: Sequence[Frame]) -> list[Message]:
        images = [f.image for f in spread(list(frames), self.max_images)]
        prompt = CAPTION_PROMPT.format(n=len(images), start=clock(t_start), end=clock(t_end))
        return frame_messages(images, prompt, max_side=self.max_side, max_images=self.max_images)

    def perceive_units(
        self,
        units: Sequence[tuple[float, float, Sequence[Frame]]],
        on_unit: UnitCallback,
    ) -> None:
        """Caption each ``(t_start, t_end, frames)`` unit; ``on_unit`` gets each as it finishes.

        Raises :class:`ModelError` when the VLM cannot answer at all; a single unusable reply
        (empty, non-text) is reported through ``on_unit`` with a problem and nothing else.
        """
        todo = [(i, u) for i, u in enumerate(units) if len(u[2])]
        for i, (a, b, _) in enumerate(units):
            if not len(units[i][2]):
                on_unit(i, None, f"{self.name}: no frames for {a:.1f}-{b:.1f} s")
        if not todo:
            return
        convs = [self.messages(a, b, frames) for _, (a, b, frames) in todo]

        def done(k: int, res: ChatResult | ModelError) -> None:
            i, (a, b, frames) = todo[k]
            self.requests += 1
            self.images_sent += min(len(frames), self.max_images)
            if isinstance(res, ModelError):
                on_unit(i, None, f"{self.name} {a:.1f}-{b:.1f} s: {res}; not stored")
                return
            self.usage += res.usage
            text = " ".join(res.text.split())
            if not text:
                on_unit(
                    i,
                    None,
                    f"{self.name} {a:.1f}-{b:.1f} s: the VLM ({self.vlm_id}) returned an empty "
                    "reply; not stored (a later run asks again)",
                )
                return
            on_unit(i, [self._observation(a, b, text)], None)

        self.vlm().chat_many(convs, max_tokens=self.max_tokens, temperature=0.0, on_result=done)

    def _observation(self, a: float, b: float, text: str) -> Observation:
        return Observation(
            t_start=float(a),
            t_end=float(max(a, b)),
            kind="caption",
            text=text,
            producer=self.name,
            version=self.version,
        )

    def perceive_frames(self, frames: Sequence[Frame]) -> list[Observation]:
        """Caption ``frames`` as one unit (from the first frame's time to the last's).

        Raises :class:`ModelError` with the problem when the reply is unusable.
        """
        if not frames:
            return []
        a, b = float(frames[0].t), float(frames[-1].t)
        got: list[Observation] = []
        problems: list[str] = []

        def keep(_i: int, obs: list[Observation] | None, problem: str | None) -> None:
            got.extend(obs or [])
            if problem:
                problems.append(problem)

        self.perceive_units([(a, b, frames)], keep)
        if problems:
            raise ModelError(problems[0])
        return got

    def perceive_audio(
        self, path: str | Path, start: float = 0.0, end: float | None = None
    ) -> list[Observation]:
        raise TypeError("caption perceives frames, not audio")
