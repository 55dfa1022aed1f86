"""Names of the perceivers and how settings turn into configured instances."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from vidsleuth.errors import ConfigError
from vidsleuth.tools.perception.types import Perceiver

if TYPE_CHECKING:
    from vidsleuth.settings import Settings

FRAME_PERCEIVERS = ("ocr", "objects", "tags")
TIMELINE_PERCEIVERS = ("speech", "subtitles")
ALL_PERCEIVERS = FRAME_PERCEIVERS + TIMELINE_PERCEIVERS
#: perceivers that need a vision-language model (``vlm_backend`` not ``none``); ``all`` adds
#: them only when one is configured
VLM_PERCEIVERS = ("caption",)
KNOWN_PERCEIVERS = FRAME_PERCEIVERS + VLM_PERCEIVERS + TIMELINE_PERCEIVERS

_instances: dict[tuple[str, str], Perceiver] = {}


def parse_names(spec: str | Iterable[str], settings: Settings | None = None) -> list[str]:
    """``"ocr,speech"`` / ``"all"`` / a list -> validated names in canonical order.

    ``all`` is every CPU perceiver, plus ``caption`` when ``settings`` (default: the
    environment's) configure a vision-language model.
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names = {n.strip().lower() for n in items if n.strip()}
    if "all" in names:
        names = set(ALL_PERCEIVERS) | (names - {"all"})
        if _vlm_configured(settings):
            names |= set(VLM_PERCEIVERS)
    unknown = sorted(names - set(KNOWN_PERCEIVERS))
    if unknown:
        raise ConfigError(
            f"unknown perceiver {', '.join(unknown)}; "
            f"choose from {', '.join(KNOWN_PERCEIVERS)} or all"
        )
    return [n for n in KNOWN_PERCEIVERS if n in names]


def _vlm_configured(settings: Settings | None) -> bool:
    if settings is None:
        from vidsleuth.settings import Settings

        settings = Settings()
    return settings.vlm_backend != "none"


def make_perceiver(name: str, settings: Settings | None = None) -> Perceiver:
    """A perceiver configured by ``settings`` (reused per process, so models load once)."""
    from vidsleuth.settings import Settings

    s = settings or Settings()
    params = (
        f"{s.ocr_engine}|{s.perception_max_side}|{s.object_min_score}|{s.tags_top_k}"
        f"|{s.ocr_det_side}|{s.ocr_reuse_diff}|{s.speech_gate_db}"
    )
    if name == "caption":
        from vidsleuth.tools.perception.caption import caption_params

        params = caption_params(s)
    key = (name, params)
    if key in _instances:
        return _instances[key]
    perceiver: Perceiver
    if name == "ocr":
        from vidsleuth.tools.perception.ocr import RapidOcrPerceiver, TesseractPerceiver

        if s.ocr_engine == "rapidocr":
            perceiver = RapidOcrPerceiver(
                max_side=s.perception_max_side,
                det_side=s.ocr_det_side or None,
                reuse_diff=s.ocr_reuse_diff,
            )
        elif s.ocr_engine == "tesseract":
            perceiver = TesseractPerceiver(max_side=s.perception_max_side)
        else:
            raise ConfigError(f"unknown OCR engine {s.ocr_engine!r}; choose rapidocr or tesseract")
    elif name == "objects":
        from vidsleuth.tools.perception.objects import ObjectPerceiver

        perceiver = ObjectPerceiver(min_score=s.object_min_score)
    elif name == "tags":
        from vidsleuth.tools.perception.tags import TagPerceiver

        perceiver = TagPerceiver(top_k=s.tags_top_k)
    elif name == "speech":
        from vidsleuth.tools.perception.speech import SpeechPerceiver

        perceiver = SpeechPerceiver(gate_db=s.speech_gate_db)
    elif name == "caption":
        from vidsleuth.tools.perception.caption import CaptionPerceiver

        perceiver = CaptionPerceiver(s)
    elif name == "subtitles":
        from vidsleuth.tools.perception.subtitles import SubtitlePerceiver

        perceiver = SubtitlePerceiver()
    else:
        parse_names([name])  # raises ConfigError naming the choices
        raise AssertionError(name)
    _instances[key] = perceiver
    return perceiver
