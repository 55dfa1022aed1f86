"""Build the configured :class:`ChatModel` and :class:`Embedder` from :class:`Settings`.

The rest of vidsleuth calls only these two functions (plus :func:`load_image_embedder`); which
backend runs is configuration.  Every backend module is imported here, inside the function that
needs it, so choosing ``openai-compatible`` never imports torch or llama.cpp.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from vidsleuth.errors import ConfigError, ModelError
from vidsleuth.tools.models.base import ChatModel, Embedder
from vidsleuth.tools.models.registry import (
    REGISTRY,
    assemble_gguf,
    get_spec,
    package_dir,
    verify_gguf,
)

if TYPE_CHECKING:
    from vidsleuth.settings import Settings


def models_dir(settings: Settings) -> Path:
    """Where assembled model files are cached: ``<store>/models``."""
    return Path(settings.store) / "models"


def _known(kind: str) -> str:
    return ", ".join(n for n, s in REGISTRY.items() if s.kind == kind)


def load_chat_model(settings: Settings) -> ChatModel:
    """The chat model ``settings.chat_backend`` / ``settings.chat_model`` name (loaded lazily:
    weights are read on the first ``chat`` call, but files and hashes are checked now)."""
    backend, name = settings.chat_backend, settings.chat_model
    spec = get_spec(name)
    pin = settings.chat_model_sha256
    if pin and backend != "llamacpp":
        raise ConfigError(
            f"chat_model_sha256 pins a GGUF file (chat_backend=llamacpp), not a {backend} model; "
            "unset VIDSLEUTH_CHAT_MODEL_SHA256"
        )
    if backend == "llamacpp":
        from vidsleuth.tools.models.llamacpp import LlamaCppChatModel

        if spec is not None:
            if spec.kind != "chat" or spec.backend != "llamacpp":
                raise ConfigError(
                    f"model {spec.name!r} is a {spec.kind}, not a llama.cpp chat model"
                )
            if pin and pin != spec.sha256:
                raise ConfigError(
                    f"chat_model_sha256 {pin[:16]}... is not the sha256 of the registered model "
                    f"{spec.name!r} ({(spec.sha256 or '')[:16]}...); fix or unset the pin"
                )
            path = assemble_gguf(spec, models_dir(settings))
            label = spec.name
        else:
            path = Path(name).expanduser()
            if not path.is_file():
                raise ModelError(
                    f"chat model {name!r} is neither a registered model ({_known('chat')}) "
                    "nor a GGUF file"
                )
            if pin:
                verify_gguf(path, pin, records=models_dir(settings) / "pinned")
            label = path.stem
        return LlamaCppChatModel(
            path,
            name=label,
            n_ctx=settings.llm_context,
            threads=settings.llm_threads,
            gpu_layers=settings.llm_gpu_layers,
            max_retries=settings.llm_max_retries,
        )
    if spec is not None:
        raise ConfigError(
            f"model {spec.name!r} is a GGUF for the llamacpp backend; with chat_backend={backend} "
            "give a local model folder or a hub id"
        )
    if backend == "transformers":
        from vidsleuth.tools.models.hf_chat import TransformersChatModel

        return TransformersChatModel(
            name, device=settings.model_device, max_retries=settings.llm_max_retries
        )
    if backend == "openai-compatible":
        from vidsleuth.tools.models.openai_compat import OpenAICompatibleChatModel

        return OpenAICompatibleChatModel(
            settings.openai_base_url,
            name,
            api_key=settings.openai_api_key,
            max_retries=settings.llm_max_retries,
        )
    if backend == "vllm":
        from vidsleuth.tools.models.vllm_backend import VLLMChatModel

        return VLLMChatModel(name, max_retries=settings.llm_max_retries)
    raise ConfigError(f"unknown chat backend {backend!r}")


# --------------------------------------------------------------------------------------------
# The perceiver VLM (issue 13): a model that sees, apart from the chat model that reasons
# --------------------------------------------------------------------------------------------


def vlm_configured(settings: Settings) -> bool:
    """Whether a vision-language perceiver is configured (``vlm_backend`` is not ``none``)."""
    return settings.vlm_backend != "none"


def _vlm_name(settings: Settings) -> str:
    if not vlm_configured(settings):
        raise ConfigError(
            "no vision-language model configured: set VIDSLEUTH_VLM_BACKEND (openai-compatible, "
            "vllm or transformers) and VIDSLEUTH_VLM_MODEL"
        )
    name = (settings.vlm_model or "").strip()
    if not name:
        raise ConfigError(
            f"vlm_backend={settings.vlm_backend} needs a model: set VIDSLEUTH_VLM_MODEL (the "
            "served model name, a local model folder or a hub id)"
        )
    spec = get_spec(name)
    if spec is not None:
        raise ConfigError(
            f"{spec.name!r} is a registered {spec.kind} model, not a vision-language model"
        )
    return name


def vlm_identity(settings: Settings) -> str:
    """What names the perceiver VLM in stored versions, without loading it or calling it.

    ``<backend>:<model>`` for served models (the server's URL is left out: the same model moved
    to another port keeps its captions); a local folder adds a hash of its config and weight
    files, so rebuilding it under the same name is a new model.
    """
    import hashlib

    name = _vlm_name(settings)
    backend = {"openai-compatible": "openai"}.get(settings.vlm_backend, settings.vlm_backend)
    folder = Path(name).expanduser()
    if backend == "transformers" and folder.is_dir():
        h = hashlib.blake2b(digest_size=6)
        for f in sorted(folder.iterdir()):
            if f.name == "config.json":
                h.update(f.read_bytes())
            elif f.suffix in (".safetensors", ".bin"):
                st = f.stat()
                h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
        return f"transformers:{folder.resolve().name}#{h.hexdigest()}"
    return f"{backend}:{name}"


def load_vlm(settings: Settings) -> ChatModel:
    """The perceiver VLM ``settings.vlm_*`` configure (it must accept images).

    One clear :class:`ConfigError` / :class:`ModelError` when none is configured, the model is
    text-only, or its backend is not installed.  Weights load on the first request.
    """
    backend, name = settings.vlm_backend, _vlm_name(settings)
    if backend == "transformers":
        from vidsleuth.tools.models.hf_chat import TransformersChatModel

        model = TransformersChatModel(
            name, device=settings.model_device, batch_size=settings.vlm_concurrency
        )
        if not model.is_vlm:
            raise ConfigError(
                f"{name}: a text-only model (model_type {model.model_type}), not a "
                "vision-language model; give a VLM folder (Qwen2-VL, Qwen2.5-VL, SmolVLM, ...)"
            )
        return model
    if backend == "openai-compatible":
        from vidsleuth.tools.models.openai_compat import OpenAICompatibleChatModel

        return OpenAICompatibleChatModel(
            settings.vlm_base_url,
            name,
            api_key=settings.vlm_api_key,
            timeout=settings.vlm_timeout,
            retries=settings.vlm_retries,
            concurrency=settings.vlm_concurrency,
            supports_images=True,
            max_retries=settings.llm_max_retries,
        )
    if backend == "vllm":
        from vidsleuth.tools.models.vllm_backend import VLLMChatModel

        return VLLMChatModel(
            name, max_images=settings.vlm_max_images, max_retries=settings.llm_max_retries
        )
    raise ConfigError(f"unknown vlm backend {backend!r}")


def role_rows(settings: Settings) -> list[dict[str, object]]:
    """The two model roles: the chat model that reasons, and the VLM that sees."""
    chat_where = (
        settings.openai_base_url if settings.chat_backend == "openai-compatible" else "local"
    )
    vlm_on = vlm_configured(settings)
    vlm_where = settings.vlm_base_url if settings.vlm_backend == "openai-compatible" else "local"
    return [
        {
            "role": "reasoning",
            "backend": settings.chat_backend,
            "model": settings.chat_model,
            "where": chat_where,
            "configured": True,
            "settings": "VIDSLEUTH_CHAT_BACKEND, VIDSLEUTH_CHAT_MODEL",
        },
        {
            "role": "perceiver",
            "backend": settings.vlm_backend,
            "model": settings.vlm_model if vlm_on else None,
            "where": vlm_where if vlm_on else None,
            "configured": vlm_on,
            "settings": "VIDSLEUTH_VLM_BACKEND, VIDSLEUTH_VLM_MODEL, VIDSLEUTH_VLM_BASE_URL",
        },
    ]


def load_embedder(ref: str, settings: Settings) -> Embedder:
    """An embedder from a reference string.

    ``minilm`` (or another registered name); ``clip:<folder-or-hub-id>`` (transformers CLIP or
    SigLIP); ``open_clip:<arch>[:<checkpoint>]``; or a sentence-transformers folder.
    """
    spec = get_spec(ref)
    if spec is not None:
        if spec.kind == "chat":
            raise ConfigError(f"model {spec.name!r} is a chat model, not an embedder")
        from vidsleuth.tools.models.embedders import SentenceTransformerEmbedder

        dim = int(spec.extras["dim"]) if "dim" in spec.extras else None
        return SentenceTransformerEmbedder(package_dir(spec), name=spec.name, dim=dim)
    kind, _, rest = ref.partition(":")
    if kind == "clip" and rest:
        from vidsleuth.tools.models.embedders import HFClipEmbedder

        return HFClipEmbedder(rest, device=settings.model_device)
    if kind == "open_clip" and rest:
        from vidsleuth.tools.models.embedders import OpenClipEmbedder

        arch, _, pretrained = rest.partition(":")
        return OpenClipEmbedder(arch, pretrained or None)
    path = Path(ref).expanduser()
    if path.is_dir():
        from vidsleuth.tools.models.embedders import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(path)
    raise ModelError(
        f"embedder {ref!r} is neither a registered model ({_known('text-embedder')}), "
        "clip:<id>, open_clip:<arch>, nor a sentence-transformers folder"
    )


def load_text_embedder(settings: Settings) -> Embedder:
    """The configured text embedder (default: MiniLM from its package)."""
    return load_embedder(settings.text_embedder, settings)


def load_image_embedder(settings: Settings) -> Embedder:
    """The configured text-image embedder; a :class:`ModelError` when none is configured (no
    CLIP-like weights install offline, so there is no default)."""
    if not settings.image_embedder:
        raise ModelError(
            "no image embedder configured: set VIDSLEUTH_IMAGE_EMBEDDER to clip:<folder-or-hub-id> "
            "or open_clip:<arch>:<checkpoint>"
        )
    emb = load_embedder(settings.image_embedder, settings)
    if "image" not in emb.modalities:
        raise ConfigError(f"image embedder {settings.image_embedder!r} cannot embed images")
    return emb


# --------------------------------------------------------------------------------------------
# `vidsleuth models ls` / `check`
# --------------------------------------------------------------------------------------------


def model_rows(settings: Settings) -> list[dict[str, object]]:
    """One row per registered model: what ``vidsleuth models ls`` shows."""
    from vidsleuth.tools.models.registry import gguf_path, package_problems

    defaults = {settings.chat_model.lower(), settings.text_embedder.lower()}
    rows: list[dict[str, object]] = []
    for spec in REGISTRY.values():
        problems = package_problems(spec)
        cached = spec.fmt == "gguf-parts" and gguf_path(spec, models_dir(settings)).is_file()
        rows.append(
            {
                "name": spec.name,
                "kind": spec.kind,
                "backend": spec.backend,
                "source": spec.source,
                "size_bytes": spec.size,
                "licence": spec.licence,
                "installed": not problems,
                "problems": problems,
                "assembled": cached,
                "default": spec.name in defaults,
                "description": spec.description,
            }
        )
    return rows


class _Ping(BaseModel):
    ok: bool
    word: str


def check_model(name: str, settings: Settings) -> dict[str, object]:
    """Verify ``name``'s files and run one tiny real inference; a row for ``models check``.

    Never raises for the model's own problems: they become ``ok: false`` with the message, so one
    broken model does not hide the state of the others.
    """
    import time

    from vidsleuth.tools.models.registry import verify_package_files

    start = time.perf_counter()
    row: dict[str, object] = {"name": name, "ok": False}
    spec = get_spec(name)
    try:
        if name == "vlm":
            import numpy as np

            from vidsleuth.tools.models.chat import image_part

            vlm = load_vlm(settings)
            row["name"] = f"vlm ({vlm.id})"
            img = np.full((64, 64, 3), (200, 30, 30), np.uint8)
            content = [image_part(img), {"type": "text", "text": "Describe this image briefly."}]
            res = vlm.chat([{"role": "user", "content": content}], max_tokens=16)
            row["detail"] = (
                f"1 image -> {res.text.strip()[:60]!r} in {res.usage.seconds:.1f}s "
                f"({res.usage.prompt_tokens} prompt tokens)"
            )
            row["ok"] = bool(res.text.strip())
        elif spec is not None and spec.fmt == "gguf-parts":
            path = assemble_gguf(spec, models_dir(settings), verify=True)
            row["hash"] = f"sha256 ok ({spec.sha256})"
            chat = load_chat_model(
                settings.model_copy(
                    # the file was just hashed in full against the registry's own pin
                    update={
                        "chat_model": str(path),
                        "chat_backend": "llamacpp",
                        "chat_model_sha256": None,
                    }
                )
            )
            res = chat.chat(
                [{"role": "user", "content": 'Reply with ok=true and word="ready".'}],
                max_tokens=32,
                schema=_Ping,
            )
            getattr(chat, "close", lambda: None)()
            parsed = res.require()
            assert isinstance(parsed, _Ping)
            row["detail"] = (
                f"JSON reply {res.text.strip()!r} in {res.usage.seconds:.1f}s "
                f"({res.usage.prompt_tokens} prompt + {res.usage.completion_tokens} tokens)"
            )
            row["ok"] = parsed.ok
        elif spec is not None or name.startswith(("clip:", "open_clip:")) or Path(name).is_dir():
            if spec is not None:
                row["hash"] = f"{verify_package_files(spec)} files match their RECORD sha256"
            emb = load_embedder(name, settings)
            if "text" in emb.modalities:
                vecs = emb.embed_texts(
                    ["a dog runs in the park", "a puppy plays outside", "tax law"]
                )
                near, far = float(vecs[0] @ vecs[1]), float(vecs[0] @ vecs[2])
                row["detail"] = f"dim {vecs.shape[1]}; similar {near:.2f} > unrelated {far:.2f}"
                row["ok"] = vecs.shape[1] == emb.dim and near > far
            else:
                import numpy as np

                vecs = emb.embed_images([np.zeros((32, 32, 3), np.uint8)])
                row["detail"] = f"dim {vecs.shape[1]}"
                row["ok"] = vecs.shape[1] == emb.dim
        else:
            # the sha256 pin belongs to the configured chat model, not to another one checked
            pin = settings.chat_model_sha256 if name == settings.chat_model else None
            chat = load_chat_model(
                settings.model_copy(update={"chat_model": name, "chat_model_sha256": pin})
            )
            res = chat.chat([{"role": "user", "content": "Say ready."}], max_tokens=8)
            row["detail"] = f"reply {res.text.strip()!r} in {res.usage.seconds:.1f}s"
            row["ok"] = bool(res.text.strip())
    except (ModelError, ConfigError) as err:
        row["detail"] = str(err)
    row["seconds"] = round(time.perf_counter() - start, 2)
    return row
