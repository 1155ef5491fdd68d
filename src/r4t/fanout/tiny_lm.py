"""A small causal LM built from a config, with a word-level tokenizer trained offline.

This is the fast CPU default policy: ~1M parameters, trained in seconds by supervised
warm-start and then by GRPO, with no weights to download. Real checkpoints (Qwen3-4B,
Gemma 3) load through ``transformers`` instead; see ``policy.load_policy``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedModel, PreTrainedTokenizerBase, PreTrainedTokenizerFast

# The <queries> tags stay ordinary words: trl decodes completions without special tokens.
SPECIALS = ["<pad>", "<unk>", "<bos>", "<eos>"]


def train_word_tokenizer(texts: Iterable[str], min_frequency: int = 1) -> PreTrainedTokenizerFast:
    """Word-level tokenizer (words and punctuation as tokens); decoding joins with spaces,
    which keeps a JSON array parseable (``[ " a b " , " c " ]``)."""
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    trainer = trainers.WordLevelTrainer(special_tokens=SPECIALS, min_frequency=min_frequency)
    tok.train_from_iterator((t.lower() for t in texts), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", bos_token="<bos>", eos_token="<eos>")
    fast.padding_side = "left"  # generation pads prompts on the left
    return fast


def build_tiny_lm(vocab_size: int, layers: int = 4, width: int = 128, heads: int = 4, context: int = 256, seed: int = 0) -> GPT2LMHeadModel:
    from r4t.seeding import seeded

    config = GPT2Config(
        vocab_size=vocab_size, n_positions=context, n_embd=width, n_layer=layers, n_head=heads,
        bos_token_id=2, eos_token_id=3, pad_token_id=0, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )
    with seeded(seed):
        return GPT2LMHeadModel(config)


def save_policy(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, directory: str | Path) -> None:
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
