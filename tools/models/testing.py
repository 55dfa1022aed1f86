"""Test helpers other suites may import: a scripted chat model and tiny random-weight models.

:class:`ScriptedChatModel` is a real :class:`BaseChatModel` (the structured-output loop, cost
accounting and message checks all run) whose "generation" replays canned replies, so agent and
graph tests can drive exact conversations without weights.  The ``build_tiny_*`` functions write
random-weight transformers models with an offline byte-level BPE tokenizer to a folder, for
logic tests of the transformers backends (milliseconds, no downloads).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from vidsleuth.errors import ModelError
from vidsleuth.tools.models.base import Message
from vidsleuth.tools.models.chat import BaseChatModel, RawReply

Reply = str | Callable[[list[Message]], str]


class ScriptedChatModel(BaseChatModel):
    """Replays ``replies`` in order (a string, or a function of the messages returning one).

    Every call's messages are kept in :attr:`calls` for assertions.  Running out of replies is a
    :class:`ModelError`, so a test notices an unexpected extra call.  ``constrained=True`` makes
    it announce JSON-schema support, to test the constrained path (the schema is recorded in
    :attr:`schemas`).  Token counts are word counts: rough, but deterministic.

    A reply may name an option by its text as ``{{option:TEXT}}``: it becomes the letter the
    prompt shows that option under (``A. TEXT``).  The agent shows each prompt the options in an
    order of its own, so a script file (``--chat-script``) cannot know the letters in advance.
    """

    def __init__(
        self,
        replies: Iterable[Reply],
        *,
        name: str = "scripted",
        constrained: bool = False,
        supports_images: bool = True,
        max_retries: int = 2,
    ) -> None:
        super().__init__(max_retries=max_retries)
        self.replies: list[Reply] = list(replies)
        self.id = f"scripted:{name}"
        self.supports_json_schema = constrained
        self.supports_images = supports_images
        self.calls: list[list[Message]] = []
        self.schemas: list[dict[str, Any] | None] = []

    @property
    def remaining(self) -> int:
        return len(self.replies)

    def _generate(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float,
        json_schema: dict[str, Any] | None,
    ) -> RawReply:
        self.calls.append(messages)
        self.schemas.append(json_schema)
        if not self.replies:
            raise ModelError(f"{self.id}: no scripted reply left for call {len(self.calls)}")
        reply = self.replies.pop(0)
        text = reply(messages) if callable(reply) else reply
        text = _OPTION.sub(lambda m: shown_letter(messages, m.group(1)), text)
        words = text.split()
        prompt_words = sum(len(_text_of(m).split()) for m in messages)
        cut = len(words) > max_tokens
        return RawReply(
            text=" ".join(words[:max_tokens]) if cut else text,
            prompt_tokens=prompt_words,
            completion_tokens=min(len(words), max_tokens),
            finish_reason="length" if cut else "stop",
        )


_OPTION = re.compile(r"\{\{option:(.*?)\}\}")


def shown_options(messages: Sequence[Message]) -> dict[str, str]:
    """Option text -> the letter it is listed under in the last prompt that lists options
    ("A. text" lines after "Question: "); {} when none does."""
    for m in reversed(messages):
        text = _text_of(m)
        if "Question: " in text:
            tail = text.split("Question: ")[-1]
            found = re.findall(r"^([A-J])\. (.*)$", tail, flags=re.M)
            return {shown.strip(): letter for letter, shown in found}
    return {}


def shown_letter(messages: Sequence[Message], option: str) -> str:
    """The letter ``option`` is listed under (:func:`shown_options`); the text itself when no
    prompt lists it."""
    return shown_options(messages).get(option.strip(), option)


def _text_of(message: Message) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    return " ".join(p.get("text", "") for p in content or [] if isinstance(p, dict))


_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}"
    "{% for p in m['content'] %}{% if p['type'] == 'text' %}{{ p['text'] }}{% endif %}{% endfor %}"
    "{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    '{"answer": "B", "time_s": 120.0, "reason": "a red car passes"}',
    "a person walks a dog in the park at 12 seconds",
    "0123456789 { } [ ] : , . ! ? ' \" - _ ( )",
]


def build_tokenizer(folder: Path, *, vocab_size: int = 320) -> Any:
    """A byte-level BPE tokenizer trained on a few lines, saved as a ``PreTrainedTokenizerFast``
    with a ChatML template (offline, deterministic)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
    )
    fast.chat_template = _CHAT_TEMPLATE
    fast.save_pretrained(folder)
    return fast


def build_tiny_causal_lm(folder: str | Path, *, seed: int = 0) -> Path:
    """A 2-layer random-weight Qwen2 causal LM with its tokenizer, saved under ``folder``."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(folder)
    config = Qwen2Config(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=2048,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    Qwen2ForCausalLM(config).save_pretrained(folder)
    return folder


def build_tiny_clip(folder: str | Path, *, seed: int = 0, image_size: int = 32) -> Path:
    """A random-weight CLIP (2-layer towers, 16-d projection) with tokenizer and a PIL image
    processor config, saved under ``folder``."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(folder)
    text = {
        "vocab_size": len(tok),
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "max_position_embeddings": 64,
        "eos_token_id": tok.eos_token_id,
        "pad_token_id": tok.pad_token_id,
        "bos_token_id": None,
    }
    vision = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": image_size,
        "patch_size": 8,
    }
    config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)
    torch.manual_seed(seed)
    CLIPModel(config).save_pretrained(folder)
    size = {"shortest_edge": image_size}
    crop = {"height": image_size, "width": image_size}
    CLIPImageProcessorPil(size=size, crop_size=crop).save_pretrained(folder)
    return folder


def mc_messages(
    observations: Sequence[str], question: str, options: Sequence[str]
) -> list[Message]:
    """A multiple-choice prompt in the shape the agent uses: stable system text and observations
    first (a cacheable prefix), the question and options last."""
    letters = "ABCDEFGH"
    obs = "\n".join(observations)
    opts = "\n".join(f"{letters[i]}. {o}" for i, o in enumerate(options))
    return [
        {
            "role": "system",
            "content": "You answer questions about a video from timestamped observations of it. "
            "Use only the observations. Cite the time (in seconds) of the observation that "
            "supports your answer.",
        },
        {"role": "user", "content": f"Observations:\n{obs}\n\nQuestion: {question}\n{opts}"},
    ]


# --------------------------------------------------------------------------------------------
# Tiny vision-language models (issue 13): random weights, built offline from configs
# --------------------------------------------------------------------------------------------

_VLM_CORPUS = [
    "a person walks a dog in the park",
    "a red car drives past a white truck on the street",
    "the text on screen reads open at nine",
    "two people talk in a kitchen near a window",
    "a cat sits on a blue sofa in a room",
]

_QWEN_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}"
    "{% for p in m['content'] %}{% if p['type'] == 'text' %}{{ p['text'] }}"
    "{% elif p['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# SmolVLM / Idefics3's own template: "User:<image>...<end_of_utterance>\nAssistant:"
_SMOLVLM_TEMPLATE = (
    "<|im_start|>{% for m in messages %}{{ m['role'] | capitalize }}"
    "{% if m['content'] is string %}{{ ': ' + m['content'] }}{% else %}"
    "{% if m['content'][0]['type'] == 'image' %}{{ ':' }}{% else %}{{ ': ' }}{% endif %}"
    "{% for p in m['content'] %}{% if p['type'] == 'text' %}{{ p['text'] }}"
    "{% elif p['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}{% endif %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

VLM_FAMILY_NAMES = ("qwen2_vl", "smolvlm")


def _vlm_tokenizer(specials: list[str], eos: str, bos: str | None, template: str) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_VLM_CORPUS + _CORPUS, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=eos, pad_token="<|endoftext|>", bos_token=bos
    )
    fast.chat_template = template
    return fast


def _suppressed(tok: Any, keep: set[int]) -> list[int]:
    """Token ids a random-weight model must not emit: special tokens (image placeholders...)
    and tokens that decode to whitespace only, so its replies are never empty text."""
    out = []
    for i in range(len(tok)):
        if i in keep:
            continue
        piece = tok.decode([i])
        if i in tok.all_special_ids or not piece.strip() or piece.startswith("<"):
            out.append(i)
    return out


def build_tiny_vlm(folder: str | Path, *, family: str = "qwen2_vl", seed: int = 0) -> Path:
    """A random-weight vision-language model of ``family`` (``qwen2_vl`` or ``smolvlm``, the
    Idefics3 architecture SmolVLM-256M/500M use) with its tokenizer, chat template and PIL image
    processor, saved under ``folder``: about 0.1 M parameters, built in a second, no download.

    ``VIDSLEUTH_VLM_BACKEND=transformers VIDSLEUTH_VLM_MODEL=<folder>`` loads it.  Its replies
    are random words (special and whitespace tokens are suppressed, so never empty).
    """
    import torch

    if family not in VLM_FAMILY_NAMES:
        raise ModelError(
            f"unknown tiny VLM family {family!r}; choose {', '.join(VLM_FAMILY_NAMES)}"
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    text = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "max_position_embeddings": 4096,
    }
    if family == "qwen2_vl":
        from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
            Qwen2VLImageProcessorPil,
        )

        specials = [
            "<|endoftext|>",
            "<|im_start|>",
            "<|im_end|>",
            "<|vision_start|>",
            "<|vision_end|>",
            "<|image_pad|>",
            "<|video_pad|>",
        ]
        tok = _vlm_tokenizer(specials, "<|im_end|>", None, _QWEN_TEMPLATE)
        ids = {t: tok.convert_tokens_to_ids(t) for t in specials}
        # 28-px merged patches, at most 4 per image: one 640x360 frame -> 2 image tokens
        Qwen2VLImageProcessorPil(
            min_pixels=28 * 28, max_pixels=28 * 28 * 4, patch_size=14, merge_size=2
        ).save_pretrained(folder)
        config: Any = Qwen2VLConfig(
            text_config={
                **text,
                "vocab_size": len(tok),
                "rope_parameters": {
                    "rope_type": "default",
                    "mrope_section": [2, 3, 3],
                    "rope_theta": 10000.0,
                },
                "eos_token_id": ids["<|im_end|>"],
                "pad_token_id": ids["<|endoftext|>"],
                "bos_token_id": None,
            },
            vision_config={
                "depth": 1,
                "embed_dim": 32,
                "hidden_size": 32,
                "num_heads": 2,
                "mlp_ratio": 2,
                "patch_size": 14,
                "spatial_merge_size": 2,
                "temporal_patch_size": 2,
            },
            image_token_id=ids["<|image_pad|>"],
            video_token_id=ids["<|video_pad|>"],
            vision_start_token_id=ids["<|vision_start|>"],
            vision_end_token_id=ids["<|vision_end|>"],
            tie_word_embeddings=True,
        )
        model: Any = Qwen2VLForConditionalGeneration(config)
        eos = ids["<|im_end|>"]
        tok.save_pretrained(folder)
    else:
        from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor
        from transformers.models.idefics3.image_processing_pil_idefics3 import (
            Idefics3ImageProcessorPil,
        )

        specials = [
            "<|endoftext|>",
            "<|im_start|>",
            "<end_of_utterance>",
            "<fake_token_around_image>",
            "<image>",
            "<global-img>",
        ] + [f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6)]
        tok = _vlm_tokenizer(specials, "<end_of_utterance>", "<|im_start|>", _SMOLVLM_TEMPLATE)
        ids = {t: tok.convert_tokens_to_ids(t) for t in specials}
        # 32-px tiles of 8-px patches, pixel-shuffled by 2: 4 image tokens per tile
        image_processor = Idefics3ImageProcessorPil(
            size={"longest_edge": 64}, max_image_size={"longest_edge": 32}
        )
        Idefics3Processor(
            image_processor, tok, image_seq_len=4, chat_template=_SMOLVLM_TEMPLATE
        ).save_pretrained(folder)
        config = Idefics3Config(
            text_config={
                **text,
                "model_type": "llama",
                "vocab_size": len(tok),
                "eos_token_id": ids["<end_of_utterance>"],
                "pad_token_id": ids["<|endoftext|>"],
                "bos_token_id": ids["<|im_start|>"],
            },
            vision_config={
                "hidden_size": 32,
                "intermediate_size": 64,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "image_size": 32,
                "patch_size": 8,
            },
            scale_factor=2,
            image_token_id=ids["<image>"],
            tie_word_embeddings=True,
        )
        model = Idefics3ForConditionalGeneration(config)
        eos = ids["<end_of_utterance>"]
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.suppress_tokens = _suppressed(tok, {eos})
    model.save_pretrained(folder)
    return folder


# --------------------------------------------------------------------------------------------
# A loopback OpenAI-compatible VLM server that records what it is sent
# --------------------------------------------------------------------------------------------


def describe_images(images: Sequence[Any]) -> str:
    """What the loopback server "sees": each image's dominant colour name, in order."""
    import numpy as np

    names = {
        "black": (0, 0, 0),
        "white": (255, 255, 255),
        "red": (220, 30, 30),
        "green": (30, 180, 30),
        "blue": (30, 30, 220),
        "yellow": (230, 220, 30),
        "grey": (128, 128, 128),
    }
    seen = []
    for img in images:
        rgb = np.asarray(img, np.float32).reshape(-1, 3).mean(axis=0)
        best = min(names, key=lambda n: float(((rgb - np.array(names[n])) ** 2).sum()))
        seen.append(best)
    uniq = list(dict.fromkeys(seen))
    return f"{len(seen)} frames showing a {' then '.join(uniq)} screen."


class LoopbackVLMServer:
    """An OpenAI-compatible ``/v1/chat/completions`` server on 127.0.0.1 for tests and demos.

    It decodes the images of each request and answers with :func:`describe_images` (or
    ``reply(request, images)``).  It records every request (:attr:`requests`: model, number of
    images, image sizes, text), the most requests it had in flight at once
    (:attr:`max_in_flight`), and can misbehave on purpose: ``script`` is a queue of
    ``(status, body)`` answers used before the normal one (``status`` 0 means "hang for
    ``hang_s`` seconds", for timeouts), ``delay_s`` slows every answer down, ``refuse_images``
    answers HTTP 400 as a text-only model does, and ``gate`` (a :class:`threading.Event`),
    when set up, holds every request after ``gate_after`` until it is set.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        delay_s: float = 0.0,
        reply: Callable[[dict[str, Any], list[Any]], str] | None = None,
    ) -> None:
        import json
        import threading
        import time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        import numpy as np

        self.delay_s = delay_s
        self.reply = reply
        self.script: list[tuple[int, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.refuse_images = False
        self.hang_s = 5.0
        self.gate: threading.Event | None = None
        self.gate_after = 0
        self.model_name = "loopback-vlm"
        lock = threading.Lock()
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, status: int, payload: Any) -> None:
                data = (
                    payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                )
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": srv.model_name}]})
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    srv.in_flight += 1
                    srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
                    scripted = srv.script.pop(0) if srv.script else None
                    n = len(srv.requests)
                try:
                    out = self._answer(body, scripted, n)
                finally:
                    # A request stops counting as in flight before its answer is sent: the
                    # client may send its next request the moment it reads this one's answer.
                    with lock:
                        srv.in_flight -= 1
                if out is not None:
                    self._send(*out)

            def _answer(
                self, body: dict[str, Any], scripted: tuple[int, Any] | None, n: int
            ) -> tuple[int, Any] | None:
                images = _request_images(body)
                record = {
                    "model": body.get("model"),
                    "images": len(images),
                    "sizes": [im.size for im in images],
                    "text": _request_text(body),
                    "max_tokens": body.get("max_tokens"),
                    "response_format": body.get("response_format"),
                }
                with lock:
                    srv.requests.append(record)
                if srv.gate is not None and n >= srv.gate_after:
                    srv.gate.wait()
                if srv.delay_s:
                    time.sleep(srv.delay_s)
                if scripted is not None:
                    if scripted[0] == 0:
                        time.sleep(srv.hang_s)
                        return None
                    return scripted
                if srv.refuse_images and images:
                    return 400, {"error": {"message": "this model does not support image inputs"}}
                arrays = [np.asarray(im) for im in images]
                text = srv.reply(body, arrays) if srv.reply else describe_images(arrays)
                return 200, completion_payload(text, prompt=50 + 10 * len(images))

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,))
        self._thread.daemon = True

    def __enter__(self) -> LoopbackVLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> LoopbackVLMServer:
        self._thread.start()
        return self

    def close(self) -> None:
        if self.gate is not None:
            self.gate.set()
        self.server.shutdown()
        self.server.server_close()


def completion_payload(text: str, *, prompt: int = 50) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` body with ``text`` as the reply."""
    done = max(1, len(text.split()))
    return {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": done,
            "total_tokens": prompt + done,
        },
    }


def _request_images(body: dict[str, Any]) -> list[Any]:
    from vidsleuth.tools.models.chat import decode_image

    out = []
    for msg in body.get("messages") or []:
        content = msg.get("content")
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") == "image_url":
                    out.append(decode_image(part["image_url"]["url"]))
    return out


def _request_text(body: dict[str, Any]) -> str:
    texts = []
    for msg in body.get("messages") or []:
        content = msg.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts += [p.get("text", "") for p in content if isinstance(p, dict)]
    return "\n".join(t for t in texts if t)


# --------------------------------------------------------------------------------------------
# python -m vidsleuth.tools.models.testing tiny-vlm DIR [--family ...] | serve-vlm [--port N]
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    import argparse
    import sys
    import time

    parser = argparse.ArgumentParser(
        prog="python -m vidsleuth.tools.models.testing",
        description="Test models built offline: tiny random-weight VLMs and a loopback server.",
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    tiny = sub.add_parser("tiny-vlm", help="write a tiny random-weight VLM folder")
    tiny.add_argument("folder", type=Path)
    tiny.add_argument("--family", choices=VLM_FAMILY_NAMES, default="qwen2_vl")
    tiny.add_argument("--seed", type=int, default=0)
    serve = sub.add_parser(
        "serve-vlm", help="run the loopback OpenAI-compatible VLM server (Ctrl-C stops it)"
    )
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--delay", type=float, default=0.0, help="seconds per answer")
    args = parser.parse_args(argv)
    if args.cmd == "tiny-vlm":
        try:
            folder = build_tiny_vlm(args.folder, family=args.family, seed=args.seed)
        except (ModelError, OSError) as err:
            sys.stderr.write(f"error: {err}\n")
            return 2
        print(
            f"wrote a tiny {args.family} VLM to {folder}\n"
            f"use it: VIDSLEUTH_VLM_BACKEND=transformers VIDSLEUTH_VLM_MODEL={folder}"
        )
        return 0
    srv = LoopbackVLMServer(port=args.port, delay_s=args.delay).start()
    print(f"loopback VLM server at {srv.url} (model name: anything); Ctrl-C stops it", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
