"""The one configuration object.

Values come from, in increasing priority: defaults here, ``VIDSLEUTH_*`` environment variables,
then command-line flags (the CLI builds a ``Settings`` and overrides the fields a flag names).
Nothing else in the code reads environment variables for these values.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_store_dir() -> Path:
    """``$XDG_CACHE_HOME/vidsleuth``, else ``~/.cache/vidsleuth``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vidsleuth"


class Settings(BaseSettings):
    """Every tunable of vidsleuth, with the environment variable ``VIDSLEUTH_<NAME>``."""

    # nan and inf are refused for every float (a nan threshold or an infinite frame rate only
    # fails later, far from the setting that caused it)
    model_config = SettingsConfigDict(env_prefix="VIDSLEUTH_", extra="ignore", allow_inf_nan=False)

    # --- store and ingestion (foundation) -------------------------------------------------
    store: Path = Field(default_factory=default_store_dir, description="store folder")
    decoder: str = Field("auto", description="video decoder: auto, pyav or decord")
    sample_fps: float = Field(1.0, gt=0, description="frames per second sampled for chunks")
    chunk_seconds: float = Field(4.0, gt=0, description="length of one chunk window")
    segment_seconds: float = Field(60.0, gt=0, description="target length of one segment")
    thumb_max_side: int = Field(640, ge=64, description="longest side of cached frames (px)")
    workers: int = Field(
        1, ge=1, description="decoder processes (1: FFmpeg threads already use every core)"
    )
    full_hash: bool = Field(False, description="fingerprint videos by a full content hash")

    # --- perception (issue 3) ---------------------------------------------------------------
    perceivers: str = Field(
        "ocr,objects,tags,speech,subtitles",
        description="perceivers `look`, `listen` and `index --perceive all` run (comma-separated)",
    )
    ocr_engine: str = Field("rapidocr", description="OCR engine: rapidocr or tesseract")
    ocr_det_side: int = Field(
        960, ge=0, description="OCR detector input, longest side (0: RapidOCR's own, min side 736)"
    )
    ocr_reuse_diff: float = Field(
        4.0, ge=0, description="OCR copies the last read frame when no region changed more (0: off)"
    )
    perception_max_side: int = Field(1280, ge=64, description="frames are downscaled to this first")
    object_min_score: float = Field(0.3, gt=0, le=1, description="YOLO detection threshold")
    tags_top_k: int = Field(5, ge=1, le=50, description="ImageNet labels kept per frame")
    speech_window_s: float = Field(600.0, gt=0, description="audio decoded and cached per unit")
    speech_gate_db: float = Field(
        -50.0,
        ge=-120,
        le=0,
        description="audio quieter than this (dBFS per 0.5 s) is skipped before voice activity "
        "detection (-120: every sample goes to it)",
    )
    ask_index: Literal["quick", "full"] = Field(
        "quick",
        description="what `ask` perceives on a video not indexed yet: quick (keyframes and the "
        "audio first, dense frames only where the question leads) or full (every chunk)",
    )
    quick_max_frames: int = Field(
        240, ge=1, description="keyframes the quick first pass perceives at most (spread evenly)"
    )
    quick_max_gap_s: float = Field(
        60.0, gt=0, description="the quick pass adds a frame where keyframes are further apart"
    )

    # --- models (issue 3) -------------------------------------------------------------------
    chat_backend: Literal["llamacpp", "transformers", "openai-compatible", "vllm"] = Field(
        "llamacpp", description="chat backend"
    )
    chat_model: str = Field(
        "qwen2.5-coder-1.5b",
        description="registry name (`vidsleuth models ls`), GGUF path, local folder or hub id",
    )
    chat_model_sha256: str | None = Field(
        None,
        description="pin the GGUF chat model to this sha256 (64 hex digits): checked at every "
        "load (a full hash only when the file changed), refused when it differs",
    )
    text_embedder: str = Field(
        "minilm",
        description="registry name, sentence-transformers folder, clip:<id>, open_clip:<arch>",
    )
    image_embedder: str | None = Field(
        None, description="clip:<path-or-hub-id> or open_clip:<arch>[:<checkpoint>]; none offline"
    )
    openai_base_url: str = Field(
        "http://127.0.0.1:8000/v1", description="OpenAI-compatible server (vllm serve, Ollama)"
    )
    openai_api_key: str | None = Field(None, description="bearer token for that server")
    llm_threads: int = Field(2, ge=1, description="llama.cpp CPU threads")
    llm_context: int = Field(8192, ge=512, description="llama.cpp context window (tokens)")
    llm_gpu_layers: int = Field(0, ge=0, description="llama.cpp layers offloaded to a GPU")
    llm_max_retries: int = Field(2, ge=0, description="re-asks after an unusable JSON reply")
    model_device: str = Field("auto", description="transformers/torch device: auto, cpu, cuda")

    # --- vision-language perceiver (issue 13) -------------------------------------------------
    # A VLM that *sees* (captions chunks, answers looks), apart from the chat model that reasons.
    vlm_backend: Literal["none", "openai-compatible", "vllm", "transformers"] = Field(
        "none", description="vision-language perceiver backend (none: see through OCR/objects/tags)"
    )
    vlm_model: str | None = Field(
        None, description="VLM: served model name, local folder or hub id (Qwen2.5-VL, SmolVLM...)"
    )
    vlm_base_url: str = Field(
        "http://127.0.0.1:8000/v1", description="OpenAI-compatible VLM server (vllm serve ...)"
    )
    vlm_api_key: str | None = Field(None, description="bearer token for the VLM server")
    vlm_concurrency: int = Field(
        8, ge=1, description="VLM requests in flight (openai-compatible) / prompts per batch"
    )
    vlm_timeout: float = Field(120.0, gt=0, description="seconds one VLM request may take")
    vlm_retries: int = Field(
        3, ge=0, description="re-sends of a VLM request after a timeout or HTTP 5xx (with backoff)"
    )
    vlm_max_side: int = Field(
        768, ge=32, description="frames are shrunk to this longest side (px) before the VLM"
    )
    vlm_max_images: int = Field(8, ge=1, description="at most this many images in one request")
    caption_frames: int = Field(4, ge=1, description="frames of a chunk in one caption request")
    caption_max_tokens: int = Field(96, ge=8, description="max tokens of one chunk caption")

    # --- memory (issue 4) -------------------------------------------------------------------
    chroma_url: str | None = Field(
        None, description="Chroma server URL (http://host:port); unset: embedded store, one writer"
    )
    chroma_lock_timeout: float = Field(
        30.0,
        ge=0,
        description="seconds to wait for the embedded store's lock, taken per batch of reads "
        "or writes (two builds on one store take turns)",
    )
    # Closed-set labels become memory (chunk texts, entities, summaries) only where they are more
    # likely right than noise.  Calibrated by vidsleuth.evals.fit_label_confidence on every real
    # clip of ../shared/data/videos, each label judged by eye (evals/fitted/label_judgements.json,
    # result in evals/fitted/label_confidence.json): P(right) reaches 0.5 at tag score 0.94
    # (12 % of 700 tag sightings were right; leaving one clip out moves it 0.79-1.0) and at
    # detection score 0.002 (90 % of 208 detections were right), so detections above the
    # detector's own object_min_score all count.
    memory_tag_min_score: float = Field(
        0.94,
        ge=0,
        le=1,
        description="ImageNet tags scoring below this stay out of memory's texts, entities and "
        "summaries (calibrated on real clips: vidsleuth.evals.fit_label_confidence)",
    )
    memory_object_min_score: float = Field(
        0.0,
        ge=0,
        le=1,
        description="object detections scoring below this stay out of memory (calibrated: "
        "every detection above object_min_score is more often right than not)",
    )

    # --- retrieval (issue 5) ----------------------------------------------------------------
    retriever_ckpt: Path | None = Field(
        None, description="R-VLM retriever checkpoint (default: the one shipped in the package)"
    )
    retriever_k: int = Field(5, ge=1, description="chunks kept by top-K retrieval")
    retriever_mass: float = Field(
        0.8, gt=0, le=1, description="adaptive K: keep chunks until this softmax score mass"
    )
    retriever_budget: int = Field(16, ge=1, description="adaptive K: at most this many chunks")
    retriever_frames_per_chunk: int = Field(
        2, ge=1, description="frames handed to perception per chosen chunk, best first"
    )

    # --- agent (issue 6) --------------------------------------------------------------------
    agent_max_rounds: int = Field(3, ge=1, description="investigation rounds per question")
    agent_max_frames: int = Field(600, ge=0, description="frames one question may decode")
    agent_max_tokens: int = Field(12000, ge=0, description="model tokens one question may use")
    agent_max_seconds: float = Field(600.0, gt=0, description="wall seconds per question")
    agent_stop_threshold: float = Field(
        0.75, ge=0, le=1, description="stop when confidence >= this"
    )
    agent_stop_weights: tuple[float, ...] = Field(
        # Fitted by vidsleuth.evals.fit_stop on 81 questions the CPU default answered (model or
        # arithmetic) on the needle videos 3303 and 2202 (both wordings) and the 30-minute
        # real-clips haystack; the data and its leave-one-video-out check are in
        # evals/fitted/stop_weights.json.  An arithmetic answer is trusted (about 0.9: 30 of 30
        # right); the 1.5B model's own pick is not (about 0.3-0.45: right 16 of 51).
        (-0.7068, 0.0, 0.0, 0.4398, 0.2631, 0.0256, 2.9277),
        description="stop-rule logistic weights: bias, agreement, stated confidence, score "
        "margin, exact evidence, label evidence, computed answer (fitted: "
        "vidsleuth.evals.fit_stop)",
    )
    agent_stop_when_stable: bool = Field(
        True,
        description="stop (stop_reason stable) when a round after the first found nothing "
        "against the answer so far",
    )
    agent_shuffle_options: bool = Field(
        True,
        description="show each map prompt the options in an order of its own (fixed per "
        "question and evidence group), so a small model's habit of picking one position "
        "does not pass for an answer",
    )
    agent_map_after_computed: bool = Field(
        False,
        description="still ask the model to read the evidence groups once arithmetic on located "
        "moments has singled out an option; its replies never change that answer, only the "
        "stop features agreement and stated (when agent_stop_weights weigh them, the model "
        "is always asked)",
    )
    agent_top_k: int = Field(8, ge=1, description="candidate spans kept from retrieval")
    agent_map_groups: int = Field(2, ge=1, description="evidence groups answered per round")
    agent_group_lines: int = Field(16, ge=1, description="evidence lines in one map prompt")
    agent_answer_tokens: int = Field(96, ge=16, description="max tokens of one map reply")
    agent_plan_with_model: bool = Field(
        True, description="ask the model to read the question (kind, target, extra tool calls)"
    )
    agent_plan_tokens: int = Field(160, ge=32, description="max tokens of the question reading")
    agent_decide_tokens: int = Field(
        160, ge=32, description="max tokens of one next-step decision (tool calls or answer)"
    )
    agent_zoom_fps: float = Field(2.0, gt=0, description="frame rate when zooming into a span")
    agent_zoom_max_side: int = Field(960, ge=64, description="frame size when zooming (px)")
    agent_zoom_spans: int = Field(
        2, ge=1, description="spans zoomed into by the default next round (no model decision)"
    )
    agent_confirm_expensive: bool = Field(
        False, description="pause for the user before expensive tool calls (zooming, plug-ins)"
    )
    agent_remember_answers: bool = Field(
        True,
        description="remember confident answers as (tagged) session facts; evaluations of "
        "isolated questions turn this off so no question sees another's answer",
    )

    @field_validator("chat_model_sha256", mode="before")
    @classmethod
    def _sha256(cls, v: object) -> object:
        if isinstance(v, str):
            v = v.strip().lower()
            if not v:
                return None
            if len(v) != 64 or any(c not in "0123456789abcdef" for c in v):
                raise ValueError("expected a sha256: 64 hex digits")
        return v

    @field_validator("store", mode="before")
    @classmethod
    def _expand(cls, v: object) -> object:
        return Path(v).expanduser() if isinstance(v, str | Path) else v

    def with_overrides(self, **flags: object) -> Settings:
        """Return a copy with every flag that was actually given (not None) applied."""
        given = {k: v for k, v in flags.items() if v is not None}
        merged = self.model_validate({**self.model_dump(), **given})
        return self.model_copy(update=merged.model_dump())
