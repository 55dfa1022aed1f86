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
from vidsleuth.tools.models.registry import REGISTRY, assemble_gguf, get_spec, package_dir

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
    if backend == "llamacpp":
        from vidsleuth.tools.models.llamacpp import LlamaCppChatModel

        if spec is not None:
            if spec.kind != "chat" or spec.backend != "llamacpp":
                raise ConfigError(
                    f"model {spec.name!r} is a {spec.kind}, not a llama.cpp chat model"
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
        if spec is not None and spec.fmt == "gguf-parts":
            path = assemble_gguf(spec, models_dir(settings), verify=True)
            row["hash"] = f"sha256 ok ({spec.sha256})"
            chat = load_chat_model(
                settings.model_copy(update={"chat_model": str(path), "chat_backend": "llamacpp"})
            )
            res = chat.chat(
                [{"role": "user", "content": 'Reply with ok=true and word="ready".'}],
                max_tokens=32,
                schema=_Ping,
            )
            chat.close()
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
            chat = load_chat_model(settings.model_copy(update={"chat_model": name}))
            res = chat.chat([{"role": "user", "content": "Say ready."}], max_tokens=8)
            row["detail"] = f"reply {res.text.strip()!r} in {res.usage.seconds:.1f}s"
            row["ok"] = bool(res.text.strip())
    except (ModelError, ConfigError) as err:
        row["detail"] = str(err)
    row["seconds"] = round(time.perf_counter() - start, 2)
    return row
