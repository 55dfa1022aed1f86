"""The one configuration object.

Values come from, in increasing priority: defaults here, ``VIDSLEUTH_*`` environment variables,
then command-line flags (the CLI builds a ``Settings`` and overrides the fields a flag names).
Nothing else in the code reads environment variables for these values.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_store_dir() -> Path:
    """``$XDG_CACHE_HOME/vidsleuth``, else ``~/.cache/vidsleuth``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vidsleuth"


class Settings(BaseSettings):
    """Every tunable of vidsleuth, with the environment variable ``VIDSLEUTH_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="VIDSLEUTH_", extra="ignore")

    # --- store and ingestion (foundation) -------------------------------------------------
    store: Path = Field(default_factory=default_store_dir, description="store folder")
    decoder: str = Field("auto", description="video decoder: auto, pyav or decord")
    sample_fps: float = Field(1.0, gt=0, description="frames per second sampled for chunks")
    chunk_seconds: float = Field(4.0, gt=0, description="length of one chunk window")
    segment_seconds: float = Field(60.0, gt=0, description="target length of one segment")
    thumb_max_side: int = Field(640, ge=64, description="longest side of cached frames (px)")
    workers: int = Field(2, ge=1, description="decoder worker processes")
    full_hash: bool = Field(False, description="fingerprint videos by a full content hash")

    # --- perception (issue 3) ---------------------------------------------------------------

    # --- models (issue 3) -------------------------------------------------------------------

    # --- memory (issue 4) -------------------------------------------------------------------
    chroma_url: str | None = Field(
        None, description="Chroma server URL (http://host:port); unset: embedded store, one writer"
    )
    chroma_lock_timeout: float = Field(
        30.0, ge=0, description="seconds to wait for the embedded store's single-writer lock"
    )

    @field_validator("store", mode="before")
    @classmethod
    def _expand(cls, v: object) -> object:
        return Path(v).expanduser() if isinstance(v, str | Path) else v

    def with_overrides(self, **flags: object) -> Settings:
        """Return a copy with every flag that was actually given (not None) applied."""
        given = {k: v for k, v in flags.items() if v is not None}
        return self.model_copy(update=self.model_validate({**self.model_dump(), **given}).model_dump())
