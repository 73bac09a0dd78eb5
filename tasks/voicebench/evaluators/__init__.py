"""VoiceBench's rule-based evaluators as pure functions that agree with the official code item by item.

Reproduces `src/evaluator/mcq.py`, `bbh.py`, `harm.py` and `ifeval.py` of
https://github.com/MatthewCYM/VoiceBench at commit 5338154 (2025-06-12); `refuses` also offers
the case-sensitive advbench rule the repository used before commit 0842845 (2025-06-02).
The phrase and template tables are the official ones, order included, since they are the
scoring protocol. Where an official evaluator falls back to an unseeded `random.choice`, the
extractors here return None; `seeded_choice` is a reproducible stand-in for that guess.
Nothing here imports a third-party package until an IFEval check runs.
"""

from __future__ import annotations

from .bbh import bbh_answer, bbh_reference, bbh_task
from .fallback import seeded_choice
from .harm import refuses
from .ifeval import IFEvalResult, ifeval_check, ifeval_summary
from .mcq import mcq_letter

__all__ = [
    "IFEvalResult",
    "bbh_answer",
    "bbh_reference",
    "bbh_task",
    "ifeval_check",
    "ifeval_summary",
    "mcq_letter",
    "refuses",
    "seeded_choice",
]
