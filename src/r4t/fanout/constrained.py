"""Constrained decoding of the fan-out format: every completion parses.

An unparsable fan-out scores about 1 below a parsed one while parsed samples of one GRPO group
differ by ~0.02, so group-standardised advantages teach "emit valid JSON" and little else
(benchmarks/results/rl_served_reward_music.md). ``FanoutFormat`` removes that cliff: at each
step it masks every token that would leave the grammar

    < queries > [ " WORD+ " ( , " WORD+ " )* ] < / queries > EOS

so sampling only chooses the words of each sub-query and how many there are (between
``min_subqueries`` and ``max_subqueries``). It closes the array early enough to finish inside
``max_new_tokens``. RL, synthesis and serving decode with the same constraint
(``policy.constrained``), so the policy is trained on exactly what is served.

It needs a tokenizer whose structural characters are tokens of their own, as the built-in
word-level tokenizer's are (``r4t.fanout.tiny_lm``); other tokenizers fail with a
ConfigError. Log-probabilities in the RL loss stay the model's own (unmasked): tokens that
the grammar forces are shared by every completion of a group and get no net advantage.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import torch

from r4t.errors import ConfigError

# Token classes; WORD is any token allowed inside a sub-query.
LT, QUERIES, GT, SLASH, LBRACKET, RBRACKET, QUOTE, COMMA, EOS, WORD, OTHER = range(11)
STRUCTURE = {"<": LT, "queries": QUERIES, ">": GT, "/": SLASH, "[": LBRACKET, "]": RBRACKET, '"': QUOTE, ",": COMMA}
# The format's own tokens never appear inside a sub-query (so "," and "/" do not either); nor do
# tokens containing these characters: a quote ends the JSON string, a backslash starts an
# escape, and "<" could open the closing tag inside a string.
_NOT_IN_WORDS = ('"', "\\", "<")

# Grammar states: the forced prefix, a sub-query's words, the separators, the forced suffix, done.
PREFIX = ("<", "queries", ">", "[", '"')
SUFFIX = ("<", "/", "queries", ">")
P0 = 0                      # P0..P4: the prefix token PREFIX[i] comes next
IN0 = len(PREFIX)           # inside a sub-query, no word yet
IN = IN0 + 1                # inside a sub-query, at least one word
AFTER = IN + 1              # a sub-query just closed: "," or "]"
COMMA_OPEN = AFTER + 1      # after ",": the opening quote
C0 = COMMA_OPEN + 1         # C0..C3: the suffix token SUFFIX[i] comes next
END = C0 + len(SUFFIX)      # only EOS is left
DONE = END + 1              # EOS written (generate pads the row from here)


def _tokens_to_finish(state: int) -> int:
    """The fewest tokens (EOS included) that complete a valid fan-out from ``state``."""
    close = 1 + len(SUFFIX) + 1  # "]", the closing tag, EOS
    if state < IN0:
        return (len(PREFIX) - state) + 1 + 1 + close  # rest of the prefix, a word, the quote
    return {IN0: 2 + close, IN: 1 + close, AFTER: close, COMMA_OPEN: 3 + close, END: 1, DONE: 0}.get(state, END - state + 1)


class FanoutFormat:
    """A ``transformers`` logits processor (``__call__(input_ids, scores)``) for one ``generate`` call.

    The state of each row advances with the token it sampled; rows are independent. Create a
    fresh one per call (``FanoutFormat.factory`` does), since it remembers the prompt length.
    """

    def __init__(self, token_class: torch.Tensor, eos_token_id: int, max_new_tokens: int,
                 max_subqueries: int = 10, min_subqueries: int = 1) -> None:
        if max_new_tokens < _tokens_to_finish(P0):
            raise ConfigError(f"policy.max_new_tokens: a constrained fan-out needs at least {_tokens_to_finish(P0)} tokens, "
                              f"got {max_new_tokens}")
        if not 1 <= min_subqueries <= max_subqueries:
            raise ConfigError(f"constrained fan-out: need 1 <= min_subqueries <= max_subqueries, got {min_subqueries}, {max_subqueries}")
        self.token_class, self.eos_token_id = token_class, eos_token_id
        self.max_new_tokens, self.max_subqueries, self.min_subqueries = max_new_tokens, max_subqueries, min_subqueries
        self._prompt_len: int | None = None
        self._state: list[int] = []
        self._count: list[int] = []  # sub-queries opened so far, per row

    @classmethod
    def factory(cls, tokenizer: Any, max_subqueries: int = 10, min_subqueries: int = 1) -> Callable[[int], FanoutFormat]:
        """``max_new_tokens -> FanoutFormat`` for this tokenizer (checked once, here)."""
        token_class = token_classes(tokenizer)
        eos = tokenizer.eos_token_id
        return lambda max_new_tokens: cls(token_class, eos, max_new_tokens, max_subqueries, min_subqueries)

    def _advance(self, row: int, cls: int) -> None:
        s = self._state[row]
        if s < IN0:
            s += 1
            if s == IN0:
                self._count[row] = 1
        elif s in (IN0, IN):
            s = AFTER if cls == QUOTE else IN
        elif s == AFTER:
            s = COMMA_OPEN if cls == COMMA else C0
        elif s == COMMA_OPEN:
            s, self._count[row] = IN0, self._count[row] + 1
        elif C0 <= s < END:
            s += 1
        else:
            s = DONE
        self._state[row] = s

    def _reserve(self, opened: int) -> int:
        """Tokens kept for the sub-queries still missing to ``min_subqueries`` (``, " WORD "`` each)."""
        return 4 * max(0, self.min_subqueries - opened)

    def _allowed_classes(self, row: int, remaining: int) -> list[int]:
        s, count = self._state[row], self._count[row]

        def fits(nxt: int, opened: int = count) -> bool:  # room to finish, with min_subqueries opened where possible
            return _tokens_to_finish(nxt) + self._reserve(opened) <= remaining - 1

        if s < IN0:
            return [STRUCTURE[PREFIX[s]]]
        if s == IN0:
            return [WORD]
        if s == IN:
            return [WORD, QUOTE] if fits(IN) else [QUOTE]
        if s == AFTER:
            more = count < self.max_subqueries and fits(COMMA_OPEN, count + 1)
            enough = count >= self.min_subqueries or not more
            return ([COMMA] if more else []) + ([RBRACKET] if enough else [])
        if s == COMMA_OPEN:
            return [QUOTE]
        if C0 <= s < END:
            return [STRUCTURE[SUFFIX[s - C0]]]
        return [EOS]

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        rows, length = input_ids.shape
        if self._prompt_len is None:
            self._prompt_len, self._state, self._count = length, [P0] * rows, [0] * rows
        elif length > self._prompt_len:
            last = self.token_class[input_ids[:, -1].cpu()].tolist()
            for row in range(rows):
                self._advance(row, last[row])
        remaining = self.max_new_tokens - (length - self._prompt_len)
        allowed = torch.zeros(rows, OTHER + 1, dtype=torch.bool)
        for row in range(rows):
            allowed[row, self._allowed_classes(row, remaining)] = True
        mask = allowed[:, self.token_class].to(scores.device)  # [rows, vocab]
        if mask.shape[1] < scores.shape[1]:  # a model whose output layer is wider than the vocabulary
            mask = torch.cat([mask, mask.new_zeros(rows, scores.shape[1] - mask.shape[1])], dim=1)
        return scores.masked_fill(~mask[:, : scores.shape[1]], float("-inf"))


def token_classes(tokenizer: Any) -> torch.Tensor:
    """[vocab] class of each token id; a ConfigError when the format's characters are not tokens of their own."""
    vocab: dict[str, int] = tokenizer.get_vocab()
    missing = [t for t in STRUCTURE if t not in vocab]
    if missing:
        raise ConfigError(f"policy.constrained needs a tokenizer with {missing} as tokens of their own (the built-in "
                          "word-level tokenizer of the tiny policy has them); this policy's tokenizer does not")
    size = max(max(vocab.values()) + 1, len(tokenizer))
    classes = torch.full((size,), OTHER, dtype=torch.long)
    special = set(tokenizer.all_special_ids)
    for token, idx in vocab.items():
        if token in STRUCTURE:
            classes[idx] = STRUCTURE[token]
        elif idx not in special and token.strip() and not any(c in token for c in _NOT_IN_WORDS):
            classes[idx] = WORD
    if tokenizer.eos_token_id is None:
        raise ConfigError("policy.constrained needs a tokenizer with an EOS token")
    classes[tokenizer.eos_token_id] = EOS
    return classes


@contextmanager
def constrained_generation(model: Any, make: Callable[[int], FanoutFormat] | None) -> Iterator[None]:
    """While inside, ``model.generate`` decodes with a fresh ``FanoutFormat`` in every call (no-op for ``make=None``).

    trl's GRPOTrainer (1.16) calls ``generate(**inputs, generation_config=...)`` and has no
    logits-processor setting, so the RL stage wraps its training in this; the model's own
    ``generate`` is back afterwards.
    """
    if make is None:
        yield
        return
    from transformers import LogitsProcessorList

    plain = model.generate

    def generate(*args: Any, **kwargs: Any) -> Any:
        config = kwargs.get("generation_config")
        budget = kwargs.get("max_new_tokens") or getattr(config, "max_new_tokens", None)
        if budget is None:
            raise ConfigError("a constrained fan-out needs max_new_tokens")
        processors = list(kwargs.pop("logits_processor", None) or [])
        return plain(*args, logits_processor=LogitsProcessorList([*processors, make(int(budget))]), **kwargs)

    model.generate = generate
    try:
        yield
    finally:
        del model.generate  # the instance attribute goes; the class's generate is seen again
