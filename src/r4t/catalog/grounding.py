"""Generated vectors -> k distinct real catalog items.

Shared by every retriever: a fan-out's sub-queries and a diffusion model's rows are
both "directions" that must become a set of distinct items. Rows take turns by rank
(each row's best unused hit first, more confident rows first within a rank), so every
row is represented before any row gets a second item.
"""

from __future__ import annotations

import numpy as np

from r4t.errors import DataError


def distinct_from_candidates(ids: np.ndarray, scores: np.ndarray, k: int) -> list[int]:
    """Pick k distinct ids from per-row ranked candidates ``ids``/``scores`` [rows, depth].

    Returns fewer than k only when the candidates hold fewer than k distinct ids.
    """
    if ids.shape != scores.shape or ids.ndim != 2:
        raise DataError(f"candidate ids {ids.shape} and scores {scores.shape} must be equal 2-D arrays")
    chosen: list[int] = []
    taken: set[int] = set()
    cursor = np.zeros(ids.shape[0], dtype=np.int64)
    depth = ids.shape[1]
    while len(chosen) < k:
        progressed = False
        # rows whose next candidate scores highest go first within this round
        heads = [(float(scores[r, cursor[r]]), r) for r in range(ids.shape[0]) if cursor[r] < depth]
        for _, r in sorted(heads, key=lambda t: (-t[0], t[1])):
            while cursor[r] < depth:
                item = int(ids[r, cursor[r]])
                cursor[r] += 1
                if item >= 0 and item not in taken:
                    taken.add(item)
                    chosen.append(item)
                    progressed = True
                    break
            if len(chosen) == k:
                break
        if not progressed:
            break
    return chosen
