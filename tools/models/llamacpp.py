"""The embedded default chat backend: a GGUF model run in-process by llama.cpp (``xllamacpp``).

llama.cpp's server core is used rather than a bare context because it brings what the agent
needs for free: the model's chat template, JSON-schema grammars (``response_format``) and a
prompt-prefix cache, which makes the second question about the same observations cost seconds
instead of half a minute.  Keep prompts stable-first (system text, observations) and put what
changes (the question) last to benefit from it.

That cache lives in the process.  :meth:`LlamaCppChatModel.save_prompt_cache` /
:meth:`~LlamaCppChatModel.restore_prompt_cache` persist it across processes (see
:mod:`vidsleuth.tools.models.prompt_cache`) through llama.cpp's slot save/restore.  xllamacpp has
no Python method for that: its ``Server`` also starts llama.cpp's HTTP server on an ephemeral
127.0.0.1 port (``listening_address``), and ``POST /slots/0?action=save|restore`` there writes or
reads a file named by us inside ``slot_save_path``.  That port is protected here by a random API
key (the in-process ``handle_*`` calls do not need it).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import urllib.error
import urllib.request
import uuid
import weakref
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
        self._api_key = ""
        self._slot_dir: Path | None = None
        self._cleanup: weakref.finalize | None = None
        #: model calls answered so far (a cache is only saved when calls were made since the
        #: last restore request)
        self.generations = 0
        self._cache_mark = 0
        self._pending_restore: Path | None = None
        #: what the last restore did: tokens restored (0: ignored), None while it waits
        self.last_restore: int | None = None
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
        # Slot save/restore (the persistent prompt cache) reads and writes files named by us in
        # this private folder; the HTTP port llama.cpp opens gets a key only we know.
        slot_dir = Path(tempfile.mkdtemp(prefix="vidsleuth-llama-slots-"))
        params.slot_save_path = str(slot_dir) + os.sep
        api_key = secrets.token_hex(16)
        params.api_keys = [api_key]
        try:
            self._server = xllamacpp.Server(params)
        except Exception as err:
            shutil.rmtree(slot_dir, ignore_errors=True)
            raise ModelError(f"{self.path}: llama.cpp cannot load this model: {err}") from err
        self._slot_dir, self._api_key = slot_dir, api_key
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(slot_dir), True)
        if self._pending_restore is not None:
            pending, self._pending_restore = self._pending_restore, None
            self._restore_now(pending)
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
        self.generations += 1
        return RawReply(
            text=choice["message"].get("content") or "",
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            cached_tokens=int((usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)),
            finish_reason=choice.get("finish_reason"),
        )

    # ----------------------------------------------------------------------------------------
    # Persistent prompt cache (llama.cpp slot save/restore)
    # ----------------------------------------------------------------------------------------

    def restore_prompt_cache(self, path: str | Path) -> int | None:
        """Restore the prompt cache saved at ``path`` into the model's slot.

        Returns the number of tokens restored (0 when the file is missing or unusable: corrupt,
        truncated, another model or context size; the reason is logged).  If the model is not
        loaded yet, the restore waits for the first call (which loads it) and None is returned,
        so a session that never calls the model never pays for loading it;
        :attr:`last_restore` then tells the outcome.  Never raises.
        """
        from vidsleuth.tools.models.prompt_cache import load_prompt_cache

        self._cache_mark = self.generations
        path = Path(path)
        if self._server is None:
            self._pending_restore = path
            self.last_restore = None
            return None
        self._pending_restore = None
        self.last_restore = load_prompt_cache(self, path)
        return self.last_restore

    def _restore_now(self, path: Path) -> None:
        from vidsleuth.tools.models.prompt_cache import load_prompt_cache

        self.last_restore = load_prompt_cache(self, path)

    def save_prompt_cache(self, path: str | Path) -> bool:
        """Save the slot's prompt cache to ``path`` (atomically: temporary file, then rename).

        Skipped (False) when no call was made since the last :meth:`restore_prompt_cache`, so
        a session that did not use the model cannot overwrite a video's cache with another
        video's state.  Never raises; a failed save is logged.
        """
        from vidsleuth.tools.models.prompt_cache import save_prompt_cache

        self._pending_restore = None
        if self._server is None or self.generations <= self._cache_mark:
            return False
        saved = save_prompt_cache(self, Path(path))
        if saved:
            self._cache_mark = self.generations
        return saved

    def prompt_cache_identity(self) -> dict[str, Any]:
        """What must match for a saved slot to be restored: model id, file size and sha256 (from
        the registry's verification record; size and mtime for an unregistered file), context
        size and the llama.cpp runtime version."""
        import xllamacpp

        st = self.path.stat()
        identity: dict[str, Any] = {
            "backend": "llamacpp",
            "model": self.id,
            "size": st.st_size,
            "sha256": _recorded_sha256(self.path),
            "n_ctx": self.n_ctx,
            "runtime": f"xllamacpp {getattr(xllamacpp, '__version__', '?')}",
        }
        if identity["sha256"] is None:
            identity["mtime_ns"] = st.st_mtime_ns
        return identity

    def prompt_cache_export(self, dest: Path) -> int:
        """Save slot 0 to ``dest`` (llama.cpp's own file format); the number of tokens saved."""
        self._load()
        assert self._slot_dir is not None
        name = f"vs-{uuid.uuid4().hex}.bin"
        reply = self._slot_action("save", name)
        written = self._slot_dir / name
        try:
            tokens = int(reply.get("n_saved", 0))
            if tokens > 0:
                shutil.move(str(written), str(dest))
            return tokens
        finally:
            written.unlink(missing_ok=True)

    def prompt_cache_import(self, src: Path) -> int:
        """Restore slot 0 from ``src`` (a file :meth:`prompt_cache_export` wrote); the number of
        tokens restored.  Raises ``ModelError`` when llama.cpp refuses the file."""
        self._load()
        assert self._slot_dir is not None
        name = f"vs-{uuid.uuid4().hex}.bin"
        staged = self._slot_dir / name
        try:
            shutil.copyfile(src, staged)
            reply = self._slot_action("restore", name)
        finally:
            staged.unlink(missing_ok=True)
        return int(reply.get("n_restored", 0))

    def _slot_action(self, action: str, filename: str) -> dict[str, Any]:
        """``POST /slots/0?action=<action>`` on llama.cpp's local HTTP endpoint."""
        address = str(getattr(self._server, "listening_address", "") or "")
        if not address.startswith("http"):
            raise ModelError(f"{self.id}: llama.cpp has no local endpoint for slot {action}")
        request = urllib.request.Request(
            f"{address}/slots/0?action={action}",
            data=json.dumps({"filename": filename}).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self._api_key}",
            },
            method="POST",
        )
        # Never through a proxy: this is our own process's port on 127.0.0.1.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=300) as resp:
                reply = json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            body = err.read()[:300].decode(errors="replace")
            raise ModelError(f"{self.id}: llama.cpp slot {action} failed: {body}") from err
        except (OSError, ValueError) as err:
            raise ModelError(f"{self.id}: llama.cpp slot {action} failed: {err}") from err
        if not isinstance(reply, dict) or "error" in reply:
            raise ModelError(f"{self.id}: llama.cpp slot {action} failed: {reply!r:.300}")
        return reply

    def close(self) -> None:
        self._server = None
        self._pending_restore = None
        if self._cleanup is not None:
            self._cleanup()
            self._cleanup = None
        self._slot_dir = None


def _recorded_sha256(path: Path) -> str | None:
    """The sha256 the model registry recorded for ``path`` when it verified it, if the record
    still matches the file (same size and mtime); None otherwise (hashing 1 GB per process to
    key a cache would cost more than the cache saves)."""
    from vidsleuth.tools.models.registry import _record_path

    try:
        record = json.loads(_record_path(path).read_text())
        st = path.stat()
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    if record.get("size") != st.st_size or record.get("mtime_ns") != st.st_mtime_ns:
        return None
    sha = record.get("sha256")
    return sha if isinstance(sha, str) else None
