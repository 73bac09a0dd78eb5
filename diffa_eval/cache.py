"""Where diffa-eval keeps what it reuses between runs: LLM-judge verdicts and downloaded scorer models."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_DIR_ENV = "DIFFA_EVAL_CACHE_DIR"


def cache_root() -> Path:
    """The folder named by DIFFA_EVAL_CACHE_DIR, else ~/.cache/diffa-eval."""
    value = os.environ.get(CACHE_DIR_ENV, "").strip()
    return Path(value).expanduser() if value else Path.home() / ".cache" / "diffa-eval"
