"""Chat through Hugging Face ``transformers``: any causal LM or vision-language model, by local
path or hub id, on CPU or GPU.

This is the backend for models llama.cpp cannot run (Qwen2.5-VL, SmolVLM, ...) and for GPU
machines without vLLM.  It has no constrained decoding, so structured replies rely on the
parse-repair-retry loop of :class:`~vidsleuth.tools.models.chat.BaseChatModel`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vidsleuth.errors import ModelError
from vidsleuth.tools.models.base import Message
from vidsleuth.tools.models.chat import BaseChatModel, RawReply, decode_image, flatten_text


def resolve_device(device: str) -> str:
    """``auto`` means the first CUDA GPU when torch sees one, else the CPU."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _to_hf_content(messages: list[Message]) -> list[dict[str, Any]]:
    """OpenAI-style parts to the ``{"type": "image", "image": PIL}`` parts processors expect."""
    out = []
    for msg in messages:
        content = msg.get("content")
        parts: list[dict[str, Any]] = []
        if isinstance(content, str):
            parts.append({"type": "text", "text": content})
        else:
            for part in content or []:
                if part.get("type") == "image_url":
                    parts.append({"type": "image", "image": decode_image(part["image_url"]["url"])})
                else:
                    parts.append({"type": "text", "text": part.get("text", "")})
        out.append({"role": msg["role"], "content": parts})
    return out


class TransformersChatModel(BaseChatModel):
    """A ``transformers`` model; a VLM (``AutoModelForImageTextToText``) when its config says so."""

    supports_json_schema = False

    def __init__(
        self,
        model: str | Path,
        *,
        device: str = "auto",
        dtype: str = "auto",
        max_retries: int = 2,
        trust_remote_code: bool = False,
    ) -> None:
        super().__init__(max_retries=max_retries)
        self.model_ref = str(model)
        self.device_pref = device
        self.dtype_pref = dtype
        self.trust_remote_code = trust_remote_code
        local = Path(self.model_ref)
        self.id = f"transformers:{local.name if local.exists() else self.model_ref}"
        self._config = self._load_config()
        from transformers.models.auto.modeling_auto import (
            MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES,
        )

        self.is_vlm = self._config.model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES
        self.supports_images = self.is_vlm
        self._model: Any = None
        self._processor: Any = None

    def _load_config(self) -> Any:
        from transformers import AutoConfig

        try:
            return AutoConfig.from_pretrained(
                self.model_ref, trust_remote_code=self.trust_remote_code
            )
        except (OSError, ValueError) as err:
            raise ModelError(
                f"{self.model_ref}: not a local model folder, and not a hub id available "
                f"offline ({str(err).splitlines()[0][:160]})"
            ) from err

    def _load(self) -> tuple[Any, Any]:
        if self._model is not None:
            return self._model, self._processor
        import torch
        from transformers import (
            AutoModelForCausalLM,
            AutoModelForImageTextToText,
            AutoProcessor,
            AutoTokenizer,
        )

        from vidsleuth.tools.models.embedders import quiet_transformers

        quiet_transformers()
        self.device = resolve_device(self.device_pref)
        if self.dtype_pref == "auto":
            dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        else:
            dtype = getattr(torch, self.dtype_pref)
        kwargs = {"dtype": dtype, "trust_remote_code": self.trust_remote_code}
        try:
            if self.is_vlm:
                model = AutoModelForImageTextToText.from_pretrained(self.model_ref, **kwargs)
                processor = AutoProcessor.from_pretrained(self.model_ref)
            else:
                model = AutoModelForCausalLM.from_pretrained(self.model_ref, **kwargs)
                processor = AutoTokenizer.from_pretrained(self.model_ref)
        except (OSError, ValueError) as err:
            raise ModelError(f"{self.model_ref}: cannot load with transformers: {err}") from err
        model = model.to(self.device).eval()  # type: ignore[arg-type]
        self._model, self._processor = model, processor
        return model, processor

    def _tokenizer(self) -> Any:
        return getattr(self._processor, "tokenizer", self._processor)

    def _generate(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float,
        json_schema: dict[str, Any] | None,
    ) -> RawReply:
        import torch

        model, processor = self._load()
        tok = self._tokenizer()
        if (
            getattr(tok, "chat_template", None) is None
            and getattr(processor, "chat_template", None) is None
        ):
            raise ModelError(f"{self.model_ref}: the tokenizer has no chat template")
        convo = _to_hf_content(messages) if self.is_vlm else flatten_text(messages)
        inputs = processor.apply_chat_template(
            convo, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
        )
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        n_prompt = int(inputs["input_ids"].shape[1])
        gen: dict[str, Any] = {"max_new_tokens": max_tokens, "do_sample": temperature > 0}
        if temperature > 0:
            gen["temperature"] = temperature
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        with torch.inference_mode():
            out = model.generate(**inputs, **gen, pad_token_id=pad)
        new = out[0, n_prompt:].tolist()
        eos = model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) | {tok.eos_token_id}
        stopped = bool(new) and new[-1] in eos_ids
        return RawReply(
            text=tok.decode(new, skip_special_tokens=True),
            prompt_tokens=n_prompt,
            completion_tokens=len(new),
            finish_reason="stop" if stopped or len(new) < max_tokens else "length",
        )

    def close(self) -> None:
        self._model = self._processor = None
