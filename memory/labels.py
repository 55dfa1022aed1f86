"""Which closed-set labels memory may build on, and what a memory text was built from.

An ImageNet tag or a COCO detection always names *some* class, even on a frame that shows none of
them; on the real clips most tags are noise (see ``Settings.memory_tag_min_score`` for the
calibration).  :class:`LabelFloor` keeps the labels whose score is at or above the calibrated
floor of their kind; everything else (speech, subtitles, on-screen text, captions, and labels
without a score) is kept as it is.  :func:`sources_of` names the kinds of evidence in a chunk
text, so a summary can say what it was built from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from vidsleuth.settings import Settings


class Scored(Protocol):
    kind: str
    score: float | None


def _default(name: str) -> float:
    """A floor's default from the Settings model itself (not the environment)."""
    from vidsleuth.settings import Settings

    value = Settings.model_fields[name].default
    assert isinstance(value, float)
    return value


@dataclass(frozen=True)
class LabelFloor:
    """Minimum scores of tags and object detections that may become memory."""

    tag: float = _default("memory_tag_min_score")
    object: float = _default("memory_object_min_score")

    @classmethod
    def from_settings(cls, settings: Settings) -> LabelFloor:
        return cls(tag=settings.memory_tag_min_score, object=settings.memory_object_min_score)

    def keeps(self, o: Scored) -> bool:
        """Whether observation ``o`` is evidence memory may use."""
        if o.kind not in ("tag", "object") or o.score is None:
            return True
        return o.score >= (self.tag if o.kind == "tag" else self.object)

    def params(self) -> dict[str, float]:
        """For record versions: a different floor writes different texts."""
        return {"tag": self.tag, "object": self.object}


#: chunk-text line prefix -> the name a summary's "built from" uses, in the order shown
SOURCE_NAMES = {
    "speech": "speech",
    "subtitle": "subtitles",
    "ocr": "text on screen",
    "caption": "captions",
    "objects": "objects",
    "tags": "tags",
}
#: sources that tell what happens (a model may write a summary from them); on-screen text alone
#: is quoted and labels are listed, because a small model strings them into invented stories
#: (measured on Big Buck Bunny's title cards: "a man and a woman watching a movie")
NARRATIVE_SOURCES = frozenset({"speech", "subtitles", "captions"})


def sources_of(texts: Iterable[str]) -> list[str]:
    """The evidence kinds present in chunk texts (``"speech: ..."`` lines), in a fixed order."""
    found: set[str] = set()
    for text in texts:
        for line in text.splitlines():
            prefix = line.split(":", 1)[0].strip()
            if prefix in SOURCE_NAMES:
                found.add(SOURCE_NAMES[prefix])
    return [name for name in SOURCE_NAMES.values() if name in found]
