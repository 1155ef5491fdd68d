"""Judges score a returned set on the paper's three 1-5 Likert dimensions.

The paper uses an LLM judge (Gemini 2.5). ``AttributeJudge`` needs no LLM: on the
generated catalogs every item's hidden attributes and every query's intent are known, so
the same three questions have ground-truth answers:

* alignment    share of items consistent with the query's intent (all its constraints);
* diversity    share of the query's valid interpretations the on-intent items cover
               (out of min(#interpretations, set size)), times (1 - redundancy), where
               redundancy is the share of items whose full attribute profile repeats an
               earlier item's;
* groundedness share of the item's own sub-query's attribute mentions the item matches
               (a sub-query that names no catalog attribute value scores 0); None when
               the retriever writes no sub-queries (as for diffusion in the paper).

Each share x in [0, 1] maps to 1 + 4x on the 1-5 scale; ``percent`` reports x 20 as the
paper's tables do (20-100). ``LLMJudge`` asks a local Hugging Face model the same questions.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, Sequence

from r4t.catalog.catalog import Catalog, Query
from r4t.errors import DataError

DIMENSIONS = ("alignment", "diversity", "groundedness")


@dataclass(frozen=True)
class JudgeScores:
    """1-5 Likert scores; groundedness is None when there are no sub-queries."""

    alignment: float
    diversity: float
    groundedness: float | None = None

    def percent(self) -> dict[str, float | None]:
        return {d: (None if getattr(self, d) is None else 20.0 * getattr(self, d)) for d in DIMENSIONS}


def likert(share: float) -> float:
    return 1.0 + 4.0 * min(max(share, 0.0), 1.0)


class Judge(ABC):
    """Scores one returned set for one query."""

    @abstractmethod
    def score(self, query: Query, items: Sequence[int], subqueries: Sequence[str] | None = None) -> JudgeScores: ...


class AttributeJudge(Judge):
    """Ground-truth judge for catalogs whose items carry hidden attributes."""

    def __init__(self, catalog: Catalog) -> None:
        if not catalog.attributes:
            raise DataError(f"AttributeJudge needs item attributes; catalog {catalog.name!r} has none")
        self.catalog = catalog
        self._lexicon = {
            attr: {v: re.compile(rf"(?<![\w-]){re.escape(v.lower())}(?![\w-])") for v in set(values) if v}
            for attr, values in catalog.attributes.items()
        }

    def _attrs(self, i: int) -> dict[str, str]:
        return self.catalog.item_attributes(i)

    def alignment_share(self, query: Query, items: Sequence[int]) -> float:
        on = [all(self._attrs(i).get(a) in allowed for a, allowed in query.intent.items()) for i in items]
        return sum(on) / len(on)

    def diversity_share(self, query: Query, items: Sequence[int]) -> float:
        if not query.facet or not query.interpretations:
            raise DataError(f"query {query.qid!r} has no interpretations to judge diversity against")
        on = [i for i in items if all(self._attrs(i).get(a) in allowed for a, allowed in query.intent.items())]
        covered = {self._attrs(i)[query.facet] for i in on} & set(query.interpretations)
        profiles = [tuple(sorted(self._attrs(i).items())) for i in items]
        redundant = sum(1 for n, p in enumerate(profiles) if p in profiles[:n])
        return len(covered) / min(len(query.interpretations), len(items)) * (1.0 - redundant / len(items))

    def groundedness_share(self, items: Sequence[int], subqueries: Sequence[str]) -> float:
        if len(subqueries) != len(items):
            raise DataError(f"groundedness needs one sub-query per item; got {len(subqueries)} for {len(items)} items")
        shares = []
        for text, i in zip(subqueries, items):
            low, attrs = text.lower(), self._attrs(i)
            mentioned = [(a, v) for a, pats in self._lexicon.items() for v, pat in pats.items() if pat.search(low)]
            shares.append(sum(attrs[a] == v for a, v in mentioned) / len(mentioned) if mentioned else 0.0)
        return sum(shares) / len(shares)

    def score(self, query: Query, items: Sequence[int], subqueries: Sequence[str] | None = None) -> JudgeScores:
        if not items:
            raise DataError(f"query {query.qid!r}: cannot judge an empty set")
        if not query.intent:
            raise DataError(f"query {query.qid!r} has no ground-truth intent; AttributeJudge needs a generated catalog")
        return JudgeScores(
            alignment=likert(self.alignment_share(query, items)),
            diversity=likert(self.diversity_share(query, items)),
            groundedness=None if subqueries is None else likert(self.groundedness_share(items, subqueries)),
        )


PROMPT = """You are judging a set of catalog items returned for a search request.
Request: {query}
{subqueries}Items:
{items}

Rate the set from 1 (poor) to 5 (excellent) on:
- diversity: does the set cover different valid readings of the request without repeats?
- alignment: does every item fit the request?
- groundedness: does each item match the sub-query that retrieved it? (write n/a if there are no sub-queries)
Answer exactly in the form:
diversity: <1-5>
alignment: <1-5>
groundedness: <1-5 or n/a>
"""


class LLMJudge(Judge):
    """Asks a language model the paper's three questions. ``generate`` maps a prompt to the
    model's reply; ``LLMJudge.from_pretrained(path)`` wires a local transformers model."""

    def __init__(self, catalog: Catalog, generate: Callable[[str], str]) -> None:
        self.catalog, self.generate = catalog, generate

    @classmethod
    def from_pretrained(cls, catalog: Catalog, model: str, max_new_tokens: int = 64, device: str = "cpu") -> "LLMJudge":
        from transformers import pipeline

        pipe = pipeline("text-generation", model=model, device=device)

        def generate(prompt: str) -> str:
            return pipe(prompt, max_new_tokens=max_new_tokens, do_sample=False, return_full_text=False)[0]["generated_text"]

        return cls(catalog, generate)

    def prompt(self, query: Query, items: Sequence[int], subqueries: Sequence[str] | None) -> str:
        subs = "".join(f"- {s}\n" for s in subqueries) if subqueries else ""
        return PROMPT.format(
            query=query.text,
            subqueries=f"Sub-queries:\n{subs}" if subs else "",
            items="\n".join(f"{n + 1}. {self.catalog.item_texts[i]}" for n, i in enumerate(items)),
        )

    @staticmethod
    def parse(reply: str) -> JudgeScores:
        found: dict[str, float | None] = {}
        for dim in DIMENSIONS:
            m = re.search(rf"{dim}\s*[:=]\s*(n/?a|[1-5](?:\.\d+)?)", reply, flags=re.IGNORECASE)
            if m is None:
                if dim == "groundedness":
                    found[dim] = None
                    continue
                raise DataError(f"LLM judge reply has no {dim} score: {reply[:200]!r}")
            found[dim] = None if m.group(1).lower().startswith("n") else float(m.group(1))
        alignment, diversity = found["alignment"], found["diversity"]
        if alignment is None or diversity is None:
            raise DataError(f"LLM judge reply rates alignment or diversity n/a (only groundedness may be): {reply[:200]!r}")
        return JudgeScores(alignment=alignment, diversity=diversity, groundedness=found["groundedness"])

    def score(self, query: Query, items: Sequence[int], subqueries: Sequence[str] | None = None) -> JudgeScores:
        return self.parse(self.generate(self.prompt(query, items, subqueries)))
