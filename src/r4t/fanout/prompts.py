"""Prompts for the fan-out LM.

Instruction-tuned LMs (Qwen3, Gemma 3) get the paper's instruction and answer with
optional ``<think>`` reasoning, then ``<queries>[...]</queries>``. The tiny built-in
policy is trained on a bare prompt ``query: <text> =>`` and answers in the same
``<queries>`` format without thinking.
"""

from __future__ import annotations

INSTRUCTION = (
    "You expand a broad search request into {k} diverse, specific sub-queries that each find "
    "real items in a catalog of {domain}. Think briefly inside <think></think>, then write a JSON "
    "array of at most {k} sub-queries inside <queries></queries>.\n\nRequest: {query}\n"
)


def instruction_prompt(query: str, domain: str, subqueries: int = 10) -> str:
    return INSTRUCTION.format(query=query, domain=domain, k=subqueries)


def bare_prompt(query: str) -> str:
    return f"query: {query} =>"
