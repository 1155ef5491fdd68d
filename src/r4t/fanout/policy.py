"""FanoutPolicy: a causal LM that turns queries into sub-queries.

Any ``transformers`` causal LM works: a local folder or hub id (Qwen3-4B, Gemma 3 for users
with GPUs), the tiny built-in policy, or a GGUF file via ``gguf_file``. Sampling is batched
and seeded; completions are parsed with ``parse_subqueries``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import torch

from r4t.errors import ConfigError
from r4t.fanout.constrained import FanoutFormat
from r4t.fanout.parsing import parse_subqueries
from r4t.fanout.prompts import bare_prompt, instruction_prompt
from r4t.seeding import seeded_or_not

if TYPE_CHECKING:  # transformers is imported where a policy is loaded: it costs seconds that `r4t data` or a diffusion retrieve never need
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass
class GenerationSettings:
    max_new_tokens: int = 160
    temperature: float = 0.9
    top_p: float = 1.0


class FanoutPolicy:
    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        prompt_style: str = "bare",
        domain: str = "items",
        subqueries: int = 10,
        generation: GenerationSettings | None = None,
        constrained: bool = False,
        min_subqueries: int = 1,
    ) -> None:
        """``constrained``: decode only well-formed fan-outs of ``min_subqueries``..``subqueries``
        sub-queries (``r4t.fanout.constrained``; needs the built-in word-level tokenizer)."""
        if prompt_style not in ("bare", "instruction"):
            raise ConfigError(f"policy prompt_style must be 'bare' or 'instruction', got {prompt_style!r}")
        self.model, self.tokenizer = model, tokenizer
        self.prompt_style, self.domain, self.subqueries = prompt_style, domain, subqueries
        self.generation = generation or GenerationSettings()
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"
        self.constrained, self.min_subqueries = False, min_subqueries
        self.format: Callable[[int], FanoutFormat] | None = None
        if constrained:
            self.constrain(min_subqueries)

    def constrain(self, min_subqueries: int = 1) -> None:
        """Decode only well-formed fan-outs from now on (``constrained=True`` at construction does the same)."""
        self.format = FanoutFormat.factory(self.tokenizer, self.subqueries, min_subqueries)
        self.constrained, self.min_subqueries = True, min_subqueries

    def prompt(self, query: str) -> str:
        return bare_prompt(query) if self.prompt_style == "bare" else instruction_prompt(query, self.domain, self.subqueries)

    @torch.no_grad()
    def sample(self, queries: Sequence[str], num_samples: int = 1, greedy: bool = False, seed: int | None = None, batch_size: int = 64) -> list[list[str]]:
        """``num_samples`` completions per query (texts, special tokens removed); ``seed`` seeds
        the sampling without touching the caller's random stream."""
        self.model.eval()
        prompts = [self.prompt(q) for q in queries for _ in range(num_samples)]
        from transformers import LogitsProcessorList

        texts: list[str] = []
        lengths: list[int] = []
        g = self.generation
        with seeded_or_not(seed):
            for start in range(0, len(prompts), batch_size):
                enc = self.tokenizer(prompts[start : start + batch_size], return_tensors="pt", padding=True).to(self.model.device)
                constraint = {"logits_processor": LogitsProcessorList([self.format(g.max_new_tokens)])} if self.format else {}
                out = self.model.generate(  # type: ignore[operator]  # transformers types generate as a tensor attribute
                    **enc, **constraint, max_new_tokens=g.max_new_tokens, do_sample=not greedy,
                    temperature=None if greedy else g.temperature, top_p=None if greedy else g.top_p,
                    pad_token_id=self.tokenizer.pad_token_id, eos_token_id=self.tokenizer.eos_token_id,
                )
                generated = out[:, enc["input_ids"].shape[1] :]
                texts += self.tokenizer.batch_decode(generated, skip_special_tokens=True)
                lengths += generated_lengths(generated, self.tokenizer.eos_token_id)
        self.last_generated_tokens = lengths  # per completion, EOS included: what a stand-in LM must decode
        return [texts[i * num_samples : (i + 1) * num_samples] for i in range(len(queries))]

    def fanout(self, queries: Sequence[str], greedy: bool = True, seed: int | None = None) -> list[list[str] | None]:
        """Parsed sub-queries per query (None where the output does not parse)."""
        return [parse_subqueries(c[0], self.subqueries) for c in self.sample(queries, 1, greedy=greedy, seed=seed)]


def generated_lengths(generated: torch.Tensor, eos_token_id: int | None) -> list[int]:
    """Tokens each row decoded: up to and including its first EOS (the rest is padding)."""
    if eos_token_id is None or generated.numel() == 0:
        return [int(generated.shape[1])] * int(generated.shape[0])
    is_eos = generated == eos_token_id
    first = torch.where(is_eos.any(1), is_eos.int().argmax(1) + 1, torch.full_like(is_eos[:, 0], generated.shape[1], dtype=torch.long))
    return [int(x) for x in first]


def load_policy(
    model: str, prompt_style: str = "bare", domain: str = "items", subqueries: int = 10,
    gguf_file: str | None = None, generation: GenerationSettings | None = None, device: str = "cpu",
    constrained: bool = False, min_subqueries: int = 1,
) -> FanoutPolicy:
    """Load a saved policy folder, hub id or GGUF file (set HF_HUB_OFFLINE=1 to fail fast offline)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"gguf_file": gguf_file} if gguf_file else {}
    try:
        tok = AutoTokenizer.from_pretrained(model, **kwargs)
        lm = AutoModelForCausalLM.from_pretrained(model, torch_dtype=torch.float32, **kwargs).to(device)  # type: ignore[arg-type]
    except OSError as exc:
        where = "folder" if Path(model).exists() else "model id (offline? set a local path)"
        raise ConfigError(f"cannot load policy {model!r} ({where}): {exc}") from None
    return FanoutPolicy(lm, tok, prompt_style, domain, subqueries, generation, constrained, min_subqueries)


# Files a policy folder may carry into an exported artifact: configs, tokenizers, safetensors.
SAFE_POLICY_SUFFIXES = (".json", ".safetensors", ".txt", ".model", ".jinja", ".tiktoken")
UNSAFE_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def copy_policy_folder(source: str | Path, target: str | Path) -> Path:
    """Copy a saved policy's safe files; a policy whose weights are only pickles (``.bin``)
    is refused, because an artifact must load without unpickling anything."""
    import shutil

    source, target = Path(source), Path(target)
    if not source.is_dir():
        raise ConfigError(f"policy {str(source)!r} is not a local folder; export needs the saved policy's files")
    files = sorted(p for p in source.iterdir() if p.is_file())
    if not any(p.suffix == ".safetensors" for p in files):
        pickled = [p.name for p in files if p.suffix in UNSAFE_WEIGHT_SUFFIXES]
        raise ConfigError(f"policy {str(source)!r} has no safetensors weights"
                          + (f" (only {pickled}); re-save it with save_pretrained(safe_serialization=True)" if pickled else ""))
    target.mkdir(parents=True, exist_ok=True)
    for p in files:
        if p.suffix in SAFE_POLICY_SUFFIXES:
            shutil.copy2(p, target / p.name)
    return target
