"""Parse the paper's fan-out format: optional ``<think>...</think>``, then a JSON array of
sub-queries inside ``<queries>...</queries>``. Only the JSON is read."""

from __future__ import annotations

import json
import re

# Whitespace inside tags is allowed: word-level tokenizers decode "<queries>" as "< queries >".
_BLOCK = re.compile(r"<\s*queries\s*>(.*?)(?:<\s*/\s*queries\s*>|$)", re.DOTALL | re.IGNORECASE)
_THINK = re.compile(r"<\s*think\s*>.*?<\s*/\s*think\s*>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


def parse_subqueries(text: str, max_subqueries: int = 10) -> list[str] | None:
    """Sub-queries from a completion, or None if it is unparsable.

    The last ``<queries>`` block wins (models sometimes restate a draft first); a missing
    closing tag is tolerated, as are code fences. Entries must be non-empty strings;
    duplicates are dropped in order; at most ``max_subqueries`` are kept.
    """
    if not isinstance(text, str):
        return None
    text = _THINK.sub("", text)
    blocks = _BLOCK.findall(text)
    if not blocks:
        return None
    body = _FENCE.sub("", blocks[-1].strip())
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        return None
    return list(dict.fromkeys(v.strip() for v in value))[:max_subqueries]


def format_subqueries(subqueries: list[str], thinking: str | None = None) -> str:
    """The target format (used for supervised warm-start data and tests)."""
    think = f"<think>{thinking}</think>\n" if thinking else ""
    return f"{think}<queries>{json.dumps(subqueries, ensure_ascii=False)}</queries>"
