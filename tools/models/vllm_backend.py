"""In-process vLLM (the ``gpu`` extra): guided JSON decoding and automatic prefix caching on a GPU.

Nothing here imports vllm until the first call, and nothing else in vidsleuth imports this
module unless ``chat_backend = "vllm"``.  When vLLM runs as a separate server, use the
``openai-compatible`` backend instead: it needs no GPU library in this process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from vidsleuth.errors import ModelError
from vidsleuth.tools.models.base import ChatResult, Cost, Message
from vidsleuth.tools.models.chat import BaseChatModel, RawReply, normalize_messages


def vllm_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


class VLLMChatModel(BaseChatModel):
    """``vllm.LLM(model).chat(...)``; images go in as OpenAI-style ``image_url`` parts."""

    supports_json_schema = True

    def __init__(
        self,
        model: str,
        *,
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.85,
        supports_images: bool = True,
        max_retries: int = 2,
        max_images: int | None = None,
        **engine_kwargs: Any,
    ) -> None:
        super().__init__(max_retries=max_retries)
        if not vllm_available():
            raise ModelError(
                "the vllm backend needs the gpu extra (pip install 'vidsleuth[gpu]') and a CUDA "
                "GPU; "
                "or run `vllm serve` and use chat_backend=openai-compatible"
            )
        self.model = model
        self.id = f"vllm:{model}"
        self.supports_images = supports_images
        self._engine_kwargs = {
            "model": model,
            "gpu_memory_utilization": gpu_memory_utilization,
            "enable_prefix_caching": True,
            **({"max_model_len": max_model_len} if max_model_len else {}),
            # multi-image prompts (several frames of a chunk) must be allowed up front
            **({"limit_mm_per_prompt": {"image": max_images}} if max_images else {}),
            **engine_kwargs,
        }
        self._llm: Any = None

    def _load(self) -> Any:
        if self._llm is None:
            from vllm import LLM

            try:
                self._llm = LLM(**self._engine_kwargs)
            except Exception as err:
                raise ModelError(f"vllm cannot load {self.model}: {err}") from err
        return self._llm

    @staticmethod
    def _sampling(max_tokens: int, temperature: float, json_schema: dict[str, Any] | None) -> Any:
        from vllm import SamplingParams

        kwargs: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature}
        if json_schema is not None:
            try:  # vLLM >= 0.11
                from vllm.sampling_params import StructuredOutputsParams

                kwargs["structured_outputs"] = StructuredOutputsParams(json=json_schema)
            except ImportError:  # older releases
                from vllm.sampling_params import GuidedDecodingParams

                kwargs["guided_decoding"] = GuidedDecodingParams(json=json_schema)
        return SamplingParams(**kwargs)

    def _generate(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float,
        json_schema: dict[str, Any] | None,
    ) -> RawReply:
        llm = self._load()
        params = self._sampling(max_tokens, temperature, json_schema)
        try:
            result = llm.chat(messages, params, use_tqdm=False)[0]
        except Exception as err:
            raise ModelError(f"{self.id}: generation failed: {err}") from err
        out = result.outputs[0]
        return RawReply(
            text=out.text,
            prompt_tokens=len(result.prompt_token_ids or []),
            completion_tokens=len(out.token_ids),
            cached_tokens=int(getattr(result, "num_cached_tokens", 0) or 0),
            finish_reason=out.finish_reason,
        )

    def chat_many(
        self,
        conversations: Sequence[Sequence[Message]],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        on_result: Callable[[int, ChatResult | ModelError], None] | None = None,
    ) -> list[ChatResult | ModelError]:
        """Every conversation in one ``LLM.chat`` call: vLLM schedules them as one continuous
        batch (the per-family chat template and multi-image placement are vLLM's own)."""
        if not conversations:
            return []
        llm = self._load()
        params = self._sampling(max_tokens, temperature, None)
        msgs = [normalize_messages(c) for c in conversations]
        t0 = time.perf_counter()
        try:
            results = llm.chat(msgs, params, use_tqdm=False)
        except Exception as err:
            raise ModelError(f"{self.id}: generation failed: {err}") from err
        share = (time.perf_counter() - t0) / len(msgs)
        out: list[ChatResult | ModelError] = []
        for i, result in enumerate(results):
            o = result.outputs[0]
            usage = Cost(
                calls=1,
                prompt_tokens=len(result.prompt_token_ids or []),
                completion_tokens=len(o.token_ids),
                cached_tokens=int(getattr(result, "num_cached_tokens", 0) or 0),
                seconds=share,
            )
            res = ChatResult(text=o.text, usage=usage, finish_reason=o.finish_reason)
            out.append(res)
            if on_result is not None:
                on_result(i, res)
        return out

    def close(self) -> None:
        self._llm = None
