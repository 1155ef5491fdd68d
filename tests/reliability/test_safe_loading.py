"""No pickle of untrusted files: every torch.load is weights_only=True, numpy never
allow_pickle, YAML only through safe loaders -- checked on the source itself."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

SRC = Path(__file__).parents[2] / "src" / "r4t"


def _calls(pattern: str) -> list[tuple[str, int, str]]:
    hits = []
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        for m in re.finditer(pattern, text):
            # the call's full argument text: up to the matching closing parenthesis
            depth, end = 0, m.end() - 1
            for end in range(m.end() - 1, len(text)):
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                if depth == 0:
                    break
            hits.append((str(path.relative_to(SRC)), text.count("\n", 0, m.start()) + 1, text[m.start(): end + 1]))
    return hits


def test_torch_load_is_weights_only():
    for where, line, call in _calls(r"torch\.load\("):
        assert "weights_only=True" in call, f"{where}:{line}: {call}"
    for where, line, call in _calls(r"load_from_checkpoint\("):
        assert "weights_only=True" in call, f"{where}:{line}: {call}"


def test_no_pickle_anywhere():
    for pattern in (r"pickle\.loads?\(", r"allow_pickle\s*=\s*True", r"yaml\.load\(", r"yaml\.unsafe_load\("):
        assert _calls(pattern) == [], pattern


def test_weights_only_refuses_a_pickled_payload(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "x": Payload()}, path)
    with pytest.raises(Exception, match="(?i)weights.only|unsupported global"):
        torch.load(path, weights_only=True)
    np.save(tmp_path / "obj.npy", np.array([Payload()], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle"):
        np.load(tmp_path / "obj.npy")
