"""Chat through Hugging Face ``transformers``: any causal LM or vision-language model, by local
path or hub id, on CPU or GPU.

This is the backend for models llama.cpp cannot run (Qwen2.5-VL, SmolVLM, ...) and for GPU
machines without vLLM.  It has no constrained decoding, so structured replies rely on the
parse-repair-retry loop of :class:`~vidsleuth.tools.models.chat.BaseChatModel`.

Vision-language families: the processor (image placement in the prompt, image tokens, chat
template) comes from the model folder.  Where ``AutoProcessor`` cannot be built without
torchvision (Qwen2-VL / Qwen2.5-VL and SmolVLM2 declare a video processor that needs it), an
image-only processor is assembled from the family's PIL image processor and the tokenizer, so
the same prompts reach the model on a CPU-only install.  :meth:`TransformersChatModel.chat_many`
runs many image requests as left-padded batches through one ``generate`` call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vidsleuth.errors import ModelError
from vidsleuth.tools.models.base import ChatResult, Cost, Message
from vidsleuth.tools.models.chat import (
    BaseChatModel,
    RawReply,
    decode_image,
    flatten_text,
    has_images,
    normalize_messages,
)


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
        batch_size: int = 8,
    ) -> None:
        super().__init__(max_retries=max_retries)
        self.model_ref = str(model)
        self.batch_size = max(1, batch_size)
        self.device_pref = device
        self.dtype_pref = dtype
        self.trust_remote_code = trust_remote_code
        local = Path(self.model_ref)
        self.id = f"transformers:{local.name if local.exists() else self.model_ref}"
        self._config = self._load_config()
        from transformers.models.auto.modeling_auto import (
            MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES,
        )

        self.model_type = str(self._config.model_type)
        self.is_vlm = self.model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES
        self.supports_images = self.is_vlm
        self.family = vlm_family(self.model_type) if self.is_vlm else "text"
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
                processor = load_vlm_processor(self.model_ref, self._config, AutoProcessor)
            else:
                model = AutoModelForCausalLM.from_pretrained(self.model_ref, **kwargs)
                processor = AutoTokenizer.from_pretrained(self.model_ref)
        except (OSError, ValueError, ImportError) as err:
            first = str(err).strip().splitlines()[0][:200] if str(err).strip() else repr(err)
            raise ModelError(f"{self.model_ref}: cannot load with transformers: {first}") from err
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
        try:
            inputs = processor.apply_chat_template(
                convo,
                add_generation_prompt=True,
                tokenize=True,
                return_dict=True,
                return_tensors="pt",
            )
        except (ValueError, TypeError) as err:  # e.g. an image the processor cannot resize
            raise ModelError(
                f"{self.model_ref}: the processor rejected the request: {_first_line(err)}"
            ) from err
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

    def chat_many(
        self,
        conversations: Sequence[Sequence[Message]],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        on_result: Callable[[int, ChatResult | ModelError], None] | None = None,
    ) -> list[ChatResult | ModelError]:
        """Image conversations in left-padded batches of ``batch_size``, one ``generate`` each
        (text-only models and conversations without images go one at a time)."""
        convs = [normalize_messages(c) for c in conversations]
        if not self.is_vlm or self.batch_size <= 1 or not all(has_images(c) for c in convs):
            return super().chat_many(
                conversations, max_tokens=max_tokens, temperature=temperature, on_result=on_result
            )
        out: list[ChatResult | ModelError] = []
        for start in range(0, len(convs), self.batch_size):
            group = convs[start : start + self.batch_size]
            t0 = time.perf_counter()
            try:
                replies = self._generate_batch(
                    group, max_tokens=max_tokens, temperature=temperature
                )
            except ModelError:
                # one request the processor cannot take must not sink the others: one by one
                for k, msgs in enumerate(group):
                    single: ChatResult | ModelError
                    try:
                        single = self.chat(msgs, max_tokens=max_tokens, temperature=temperature)
                    except ModelError as err:
                        single = err
                    out.append(single)
                    if on_result is not None:
                        on_result(start + k, single)
                continue
            share = (time.perf_counter() - t0) / len(group)
            for k, reply in enumerate(replies):
                usage = Cost(
                    calls=1,
                    prompt_tokens=reply.prompt_tokens,
                    completion_tokens=reply.completion_tokens,
                    seconds=share,
                )
                res = ChatResult(text=reply.text, usage=usage, finish_reason=reply.finish_reason)
                out.append(res)
                if on_result is not None:
                    on_result(start + k, res)
        return out

    def _generate_batch(
        self, group: list[list[Message]], *, max_tokens: int, temperature: float
    ) -> list[RawReply]:
        import torch

        model, processor = self._load()
        tok = self._tokenizer()
        convos = [_to_hf_content(m) for m in group]
        texts = [
            processor.apply_chat_template(c, add_generation_prompt=True, tokenize=False)
            for c in convos
        ]
        images = [
            [p["image"] for m in c for p in m["content"] if p["type"] == "image"] for c in convos
        ]
        side = getattr(tok, "padding_side", "right")
        tok.padding_side = "left"
        try:
            inputs = processor(text=texts, images=images, padding=True, return_tensors="pt")
        except (ValueError, TypeError, RuntimeError) as err:
            raise ModelError(
                f"{self.model_ref}: the processor rejected the batch: {_first_line(err)}"
            ) from err
        finally:
            tok.padding_side = side
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        width = int(inputs["input_ids"].shape[1])
        gen: dict[str, Any] = {"max_new_tokens": max_tokens, "do_sample": temperature > 0}
        if temperature > 0:
            gen["temperature"] = temperature
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        with torch.inference_mode():
            out = model.generate(**inputs, **gen, pad_token_id=pad)
        eos = model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) | {tok.eos_token_id}
        replies = []
        for row, mask in zip(out, inputs["attention_mask"], strict=True):
            new = row[width:].tolist()
            cut = next((i for i, t in enumerate(new) if t in eos_ids), None)
            kept = new if cut is None else new[: cut + 1]
            replies.append(
                RawReply(
                    text=tok.decode(kept, skip_special_tokens=True),
                    prompt_tokens=int(mask.sum()),
                    completion_tokens=len(kept),
                    finish_reason="stop" if cut is not None or len(kept) < max_tokens else "length",
                )
            )
        return replies

    def image_tokens(self, input_ids: Any) -> int:
        """How many image placeholder tokens a tokenised prompt holds (tests compare this with
        the frames sent)."""
        _, processor = self._load()
        token_id = getattr(processor, "image_token_id", None)
        if token_id is None:
            token_id = self._tokenizer().convert_tokens_to_ids(processor.image_token)
        return int((input_ids == token_id).sum())

    def close(self) -> None:
        self._model = self._processor = None


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__


# ------------------------------------------------------------------------------------------
# vision-language families
# ------------------------------------------------------------------------------------------
#: model_type -> (family, PIL image processor class, processor class) for the families whose
#: default processor needs torchvision; any other VLM uses ``AutoProcessor`` as it is.
VLM_FAMILIES: dict[str, tuple[str, str, str]] = {
    "qwen2_vl": ("qwen2_vl", "Qwen2VLImageProcessorPil", "Qwen2VLProcessor"),
    "qwen2_5_vl": ("qwen2_vl", "Qwen2VLImageProcessorPil", "Qwen2_5_VLProcessor"),
    "idefics3": ("smolvlm", "Idefics3ImageProcessorPil", "Idefics3Processor"),
    "smolvlm": ("smolvlm", "SmolVLMImageProcessorPil", "Idefics3Processor"),
}


def vlm_family(model_type: str) -> str:
    """``qwen2_vl``, ``smolvlm`` or ``other`` (generic ``AutoProcessor``) for a model type."""
    return VLM_FAMILIES.get(model_type, ("other", "", ""))[0]


def load_vlm_processor(ref: str, config: Any, auto_processor: Any) -> Any:
    """The model's own processor; for the families above without torchvision, an image-only
    processor built from the family's PIL image processor, tokenizer and chat template."""
    entry = VLM_FAMILIES.get(config.model_type)
    try:
        return auto_processor.from_pretrained(ref)
    except (ImportError, OSError, ValueError, TypeError, AttributeError) as err:
        if entry is None:
            raise ModelError(f"{ref}: cannot build its processor: {err}") from err
    import transformers
    from transformers import AutoTokenizer

    family, image_cls, proc_cls = entry
    tokenizer = AutoTokenizer.from_pretrained(ref)
    image_processor = getattr(transformers, image_cls).from_pretrained(ref)
    template = getattr(tokenizer, "chat_template", None)
    if family == "qwen2_vl":
        return _image_only(getattr(transformers, proc_cls))(
            image_processor, tokenizer, chat_template=template
        )
    vision = config.vision_config
    seq_len = int((vision.image_size // vision.patch_size) ** 2 / (config.scale_factor**2))
    return transformers.Idefics3Processor(
        image_processor, tokenizer, image_seq_len=seq_len, chat_template=template
    )


_IMAGE_ONLY: dict[type, type] = {}


def _image_only(cls: type) -> type:
    """A subclass of a Qwen-VL processor with no video processor (which needs torchvision)."""
    if cls in _IMAGE_ONLY:
        return _IMAGE_ONLY[cls]
    from transformers.processing_utils import ProcessorMixin

    def __init__(
        self: Any, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None
    ) -> None:
        self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
        self.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)
        self.video_processor = None

    sub = type(f"ImageOnly{cls.__name__}", (cls,), {"__init__": __init__})
    _IMAGE_ONLY[cls] = sub
    return sub
