"""Load settings of transformers-backed models (`--model-args`): the keys, their values, and which change outputs.

Plain data and checks (no torch import), so a bad value fails before any model loads. `dtype`, `revision`
and `attn_implementation` change what a model answers (other weights, other rounding, other kernels summing
in another order), so they are part of the model's identity: runs and records with different values never
mix, and a leaderboard row names them. `device_map` only places the same computation on devices, as
`--device` does, and `trust_remote_code` is a permission, not a setting: both are recorded, neither is
part of the identity.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ConfigError

DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "auto": "auto",
}
"""Accepted spellings -> the name recorded (`auto`: the dtype the checkpoint was saved in)."""
ATTENTION = ("eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention")
DEVICE_MAPS = ("auto", "balanced", "balanced_low_0", "sequential", "cpu", "cuda")
_CUDA_DEVICE = re.compile(r"^cuda:\d+$")

OUTPUT_CHANGING = ("dtype", "revision", "attn_implementation")
"""The model args that are part of a model's identity (run ids, resume keys, leaderboard rows)."""
MODEL_ARG_KEYS = (*OUTPUT_CHANGING, "device_map", "trust_remote_code")
REMOTE_CODE_FLAG = "--allow-remote-code"


def _dtype(value: str) -> str:
    canonical = DTYPES.get(value.strip().lower())
    if canonical is None:
        raise ConfigError(f"model arg dtype={value!r}: use one of float32, bfloat16, float16, auto")
    return canonical


def _attention(value: str) -> str:
    if value not in ATTENTION:
        close = difflib.get_close_matches(value, ATTENTION, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(f"model arg attn_implementation={value!r}{hint}: use one of {', '.join(ATTENTION)}")
    return value


def _device_map(value: str) -> str:
    if value not in DEVICE_MAPS and not _CUDA_DEVICE.match(value):
        raise ConfigError(f"model arg device_map={value!r}: use one of {', '.join(DEVICE_MAPS)} or cuda:N")
    return value


def _revision(value: str) -> str:
    if not value or any(character.isspace() for character in value):
        raise ConfigError(f"model arg revision={value!r}: give a branch, tag or commit of the checkpoint")
    return value


def _flag(value: str) -> bool:
    text = value.strip().lower()
    if text not in ("true", "false", "1", "0"):
        raise ConfigError(f"model arg trust_remote_code={value!r}: use true or false")
    return text in ("true", "1")


_PARSERS = {
    "dtype": _dtype,
    "attn_implementation": _attention,
    "device_map": _device_map,
    "revision": _revision,
    "trust_remote_code": _flag,
}


def parse_model_args(items: Iterable[str], allow_remote_code: bool = False) -> dict[str, Any]:
    """`KEY=VALUE` items (each may hold several, comma-separated) as checked values, e.g.
    ["dtype=bf16,attn_implementation=sdpa"] -> {"dtype": "bfloat16", "attn_implementation": "sdpa"}.

    Unknown keys get a "did you mean"; `trust_remote_code=true` is refused unless `allow_remote_code`.
    """
    args: dict[str, Any] = {}
    for item in items:
        for part in item.split(","):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep or not key:
                raise ConfigError(f"model arg {part.strip()!r}: expected KEY=VALUE, e.g. dtype=bfloat16")
            if key in args:
                raise ConfigError(f"model arg {key} is given twice")
            args[key] = value.strip()
    return check_model_args(args, allow_remote_code)


def check_model_args(args: Mapping[str, Any], allow_remote_code: bool = False) -> dict[str, Any]:
    """`args` with every key known and every value checked and written in its recorded form."""
    checked: dict[str, Any] = {}
    for key, value in args.items():
        parser = _PARSERS.get(key)
        if parser is None:
            close = difflib.get_close_matches(key, MODEL_ARG_KEYS, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ConfigError(f"unknown model arg {key!r}; {hint}model args: {', '.join(MODEL_ARG_KEYS)}")
        checked[key] = parser(str(value))
    if checked.get("trust_remote_code") and not allow_remote_code:
        raise ConfigError(
            "trust_remote_code=true runs Python code shipped with the checkpoint on this machine; "
            f"add {REMOTE_CODE_FLAG} to allow it"
        )
    return checked


def output_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """The model args that change a model's outputs (`OUTPUT_CHANGING`), sorted by key."""
    return {key: args[key] for key in sorted(args) if key in OUTPUT_CHANGING}


def refuse_model_args(model: str, args: Mapping[str, Any], accepted: Iterable[str], why: str) -> None:
    """Fail when `args` holds keys a model family cannot apply; `why` says what the family does instead."""
    unused = sorted(set(args) - set(accepted))
    if unused:
        taken = ", ".join(sorted(accepted)) or "none"
        raise ConfigError(f"{model} cannot apply model arg(s) {', '.join(unused)} ({why}); it takes: {taken}")
