"""DIFFA-2's factor rule for one row, written plainly: the specification the batched sampler is checked against."""

from __future__ import annotations

import torch


def factor_count(sorted_confidence: torch.Tensor, factor: float) -> int:
    """How many of the most confident masked tokens to commit: the n-th (1-indexed) while its
    confidence is >= 1 - factor / (n + 1), at least one. As in DIFFA-2, when every token but the
    last passes, the last is committed too."""
    count = len(sorted_confidence)
    values = sorted_confidence.tolist()
    stop = 0
    for stop in range(count):
        threshold = -1.0 if stop == 0 else 1 - factor / (stop + 2)
        if values[stop] < threshold:
            break
    if stop in (0, count - 1):
        stop += 1
    return stop
