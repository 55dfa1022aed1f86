"""The embedded default chat backend: a GGUF model run in-process by llama.cpp (``xllamacpp``).

llama.cpp's server core is used rather than a bare context because it brings what the agent
needs for free: the model's chat template, JSON-schema grammars (``response_format``) and a
prompt-prefix cache, which makes the second question about the same observations cost seconds
instead of half a minute.  Keep prompts stable-first (system text, observations) and put what
changes (the question) last to benefit from it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vidsleuth.errors import ModelError
from vidsleuth.tools.models.base import Message
from vidsleuth.tools.models.chat import BaseChatModel, RawReply, flatten_text


class LlamaCppChatModel(BaseChatModel):
    """A local GGUF file served in-process; one slot, so consecutive calls share the prefix cache.

    ``threads`` defaults to 2: on a 2-core machine shared with decoders, more threads (or the
    default busy-wait OpenMP policy) collapse generation speed, so ``OMP_WAIT_POLICY=PASSIVE`` is
    set before llama.cpp starts unless the user chose a policy.
    """

    supports_json_schema = True
    supports_images = False

    def __init__(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        n_ctx: int = 4096,
        threads: int = 2,
        gpu_layers: int = 0,
        max_retries: int = 2,
    ) -> None:
        super().__init__(max_retries=max_retries)
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"{self.path}: GGUF model file not found")
        self.id = f"llamacpp:{name or self.path.stem}"
        self.n_ctx = n_ctx
        self.threads = threads
        self.gpu_layers = gpu_layers
        self._server: Any = None
        #: llama.cpp's timings of the last call (prompt/predicted tokens per second, cache_n)
        self.last_timings: dict[str, float] = {}

    def _load(self) -> Any:
        if self._server is not None:
            return self._server
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            import xllamacpp
        except ImportError as err:
            raise ModelError(
                "the llamacpp backend needs the xllamacpp package: pip install xllamacpp"
            ) from err
        params = xllamacpp.CommonParams()
        params.model.path = str(self.path)
        params.n_ctx = self.n_ctx
        params.n_parallel = 1  # one slot: every call lands on the slot holding the cached prefix
        params.cpuparams.n_threads = self.threads
        params.cpuparams_batch.n_threads = self.threads
        params.n_gpu_layers = self.gpu_layers
        params.verbosity = -1  # llama.cpp logs every request to stderr otherwise
        try:
            self._server = xllamacpp.Server(params)
        except Exception as err:
            raise ModelError(f"{self.path}: llama.cpp cannot load this model: {err}") from err
        return self._server

    def _generate(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float,
        json_schema: dict[str, Any] | None,
    ) -> RawReply:
        server = self._load()
        request: dict[str, Any] = {
            "messages": flatten_text(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
            "cache_prompt": True,
            # Small quantised models fall into loops under greedy decoding (a 1.5B summary
            # repeated one sentence 40 times); a mild penalty on recent tokens prevents that.
            "repeat_penalty": 1.1,
            "repeat_last_n": 256,
        }
        if json_schema is not None:
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": json_schema.get("title", "reply"), "schema": json_schema},
            }
        try:
            response = server.handle_chat_completions(request)
        except Exception as err:  # native errors surface as RuntimeError/ValueError
            raise ModelError(f"{self.id}: llama.cpp failed: {err}") from err
        if not isinstance(response, dict) or "error" in response:
            problem = response.get("error", response) if isinstance(response, dict) else response
            msg = problem.get("message", problem) if isinstance(problem, dict) else problem
            raise ModelError(f"{self.id}: llama.cpp refused the request: {msg}")
        choice = response["choices"][0]
        usage = response.get("usage", {})
        self.last_timings = dict(response.get("timings") or {})
        return RawReply(
            text=choice["message"].get("content") or "",
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            cached_tokens=int((usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)),
            finish_reason=choice.get("finish_reason"),
        )

    def close(self) -> None:
        self._server = None
