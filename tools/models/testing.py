"""Test helpers other suites may import: a scripted chat model and tiny random-weight models.

:class:`ScriptedChatModel` is a real :class:`BaseChatModel` (the structured-output loop, cost
accounting and message checks all run) whose "generation" replays canned replies, so agent and
graph tests can drive exact conversations without weights.  The ``build_tiny_*`` functions write
random-weight transformers models with an offline byte-level BPE tokenizer to a folder, for
logic tests of the transformers backends (milliseconds, no downloads).
"""

from __future__ import annotations

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
        words = text.split()
        prompt_words = sum(len(_text_of(m).split()) for m in messages)
        cut = len(words) > max_tokens
        return RawReply(
            text=" ".join(words[:max_tokens]) if cut else text,
            prompt_tokens=prompt_words,
            completion_tokens=min(len(words), max_tokens),
            finish_reason="length" if cut else "stop",
        )


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
