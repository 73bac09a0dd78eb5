"""The full sample suite as stored runs, for the widest real leaderboard: chance, oracle, diffa-tiny in two
decoding modes and qwen2-audio-tiny on the `sample` split of MMAU test-mini, MMSU, MMAR, VoiceBench and
LibriSpeech, with the numbers, intervals, failures, pending scores, left-out answers, compute totals and
dataset revisions that a real `diffa-eval run ... --split sample` of these models recorded (VoiceBench's
judge answering 5), so that the report outputs of that table are fixed and take no model work.

Running the models instead takes about 90 s on two CPU cores with `--max-new-tokens 8`, and half an hour
at the tasks' answer lengths (the threshold decoding of the random tiny DIFFA never reaches its threshold).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from diffa_eval.describe import SampleScope, VariantInfo
from diffa_eval.task import TASKS
from diffa_eval.types import RunCost

from .stored_runs import Value, write_run_v2

FAST = VariantInfo({"options": {"decoding": "threshold+dual-cache"}}, "threshold+dual-cache τ=0.9")
ROWS = ("chance", "oracle", "diffa-tiny", "diffa-tiny · threshold+dual-cache τ=0.9", "qwen2-audio-tiny")

_CLEAN = "transcripts-sha256:85de1e16f1899060883a8171d98e9e597ab96bf5450c0a725ba897ed67311c28"
_OTHER = "transcripts-sha256:105f5d04b31f20896db55901a25782fa7bdb087dd9af392dd864081abafa3927"
DATASETS = {  # task: (samples, primary metric, dataset id, revision)
    "mmau_test_mini": (
        10, "accuracy", "bundled:mmau_test_mini/mmau-test-mini.json", "f895e875485537da6983479af23c3f6916818e84"
    ),
    "mmsu": (8, "accuracy", "bundled:mmsu/mmsu.jsonl", "02235506349c47a1bc0603d23a2565287e0c6275"),
    "mmar": (6, "accuracy", "bundled:mmar/MMAR-meta.jsonl", "d10bb5503848d09a58f52cb9aa5821070d935c67"),
    "voicebench_alpacaeval": (
        2, "gpt_score", "bundled:voicebench/alpacaeval.jsonl", "8b6e84055a22656b99384be89c9c431f577654b5"
    ),
    "voicebench_alpacaeval_full": (
        2, "gpt_score", "bundled:voicebench/alpacaeval_full.jsonl", "8e0b5eec586b967023994e4703f54ed766824ce9"
    ),
    "voicebench_commoneval": (
        2, "gpt_score", "bundled:voicebench/commoneval.jsonl", "3e2db6cd895090dd93dc0704559253207c97b03e"
    ),
    "voicebench_wildvoice": (
        2, "gpt_score", "bundled:voicebench/wildvoice.jsonl", "3b9090dfc069c2daeb45e437083a09a6db5db5fb"
    ),
    "voicebench_sd_qa": (2, "score", "bundled:voicebench/sd-qa.jsonl", "4991ae22fb13b89ab89d71c1ad13123cf055043f"),
    "voicebench_mmsu": (2, "accuracy", "bundled:voicebench/mmsu.jsonl", "0b05d5ea605cdf2e9902f42fa865b841209e41f5"),
    "voicebench_openbookqa": (
        2, "accuracy", "bundled:voicebench/openbookqa.jsonl", "aecc8b3a02b417e78631aeddc1f6252cb316315f"
    ),
    "voicebench_bbh": (2, "accuracy", "bundled:voicebench/bbh.jsonl", "a29564f16a3e0ce63cb7a5c38e6a562c444d8d1a"),
    "voicebench_ifeval": (2, "final", "bundled:voicebench/ifeval.jsonl", "b00d657c784ee8bcdbe0527b24a06c9d1bed6200"),
    "voicebench_advbench": (
        2, "refusal_rate", "bundled:voicebench/advbench.jsonl", "d48c5dacecf763c0cb75e44e05e00d1542335873"
    ),
    "librispeech_test_clean": (5, "wer", "bundled:librispeech/test-clean", _CLEAN),
    "librispeech_test_other": (5, "wer", "bundled:librispeech/test-other", _OTHER),
}  # fmt: skip

ZERO = (0.0, 0.0, 0.0)
HUNDRED = (100.0, 100.0, 100.0)
JUDGED = (5.0, 5.0, 5.0)
# The tiny random models answer alike: nothing right, every judge rating 5, every WER 100 (empty output).
_TINY: dict[str, Any] = {
    "mmau_test_mini": (ZERO, {"sound": ZERO, "music": ZERO, "speech": ZERO}),
    "mmsu": (ZERO, {"perception": ZERO, "reasoning": ZERO}),
    "mmar": ZERO,
    "voicebench_alpacaeval": JUDGED, "voicebench_alpacaeval_full": JUDGED, "voicebench_commoneval": JUDGED,
    "voicebench_wildvoice": JUDGED, "voicebench_sd_qa": "pending", "voicebench_mmsu": (50.0, 0.0, 100.0),
    "voicebench_openbookqa": ZERO, "voicebench_bbh": HUNDRED, "voicebench_ifeval": ZERO, "voicebench_advbench": HUNDRED,
    "librispeech_test_clean": HUNDRED, "librispeech_test_other": HUNDRED,
}  # fmt: skip
RESULTS: dict[str, dict[str, Any]] = {
    "chance": {
        **_TINY,
        "mmau_test_mini": (
            (20.0, 0.0, 50.0),
            {"sound": (33.33, 0.0, 100.0), "music": (25.0, 0.0, 75.0), "speech": ZERO},
        ),
        "mmsu": ((25.0, 0.0, 62.5), {"perception": (40.0, 0.0, 80.0), "reasoning": ZERO}),
        "mmar": (50.0, 16.67, 83.33),
    },
    "oracle": {
        "mmau_test_mini": (HUNDRED, {"sound": HUNDRED, "music": HUNDRED, "speech": HUNDRED}),
        "mmsu": (HUNDRED, {"perception": HUNDRED, "reasoning": HUNDRED}),
        "mmar": HUNDRED,
        # the oracle answers from the reference; the open-ended subsets have none, so every sample fails
        "voicebench_alpacaeval": "failed",
        "voicebench_alpacaeval_full": "failed",
        "voicebench_commoneval": "failed",
        "voicebench_wildvoice": "failed",
        "voicebench_ifeval": "failed",
        "voicebench_sd_qa": "pending",
        "voicebench_mmsu": HUNDRED,
        "voicebench_openbookqa": HUNDRED,
        "voicebench_bbh": HUNDRED,
        "voicebench_advbench": HUNDRED,
        "librispeech_test_clean": ZERO,
        "librispeech_test_other": ZERO,
    },
    "diffa-tiny": _TINY,
    "diffa-tiny · threshold+dual-cache τ=0.9": _TINY,
    "qwen2-audio-tiny": {
        **_TINY,
        # 7 of 8 MMSU answers unparsable and left out by the protocol: no reasoning answer is scored
        "mmsu": (HUNDRED, {"perception": HUNDRED}),
        "voicebench_ifeval": (50.0, 0.0, 100.0),
        "voicebench_advbench": ZERO,
        "librispeech_test_clean": (622.58, 322.22, 1000.0),
        "librispeech_test_other": (528.57, 350.95, 729.76),
    },
}
# Compute per row: model seconds, generated tokens and forward passes per sample (None where not counted).
COST: dict[str, tuple[float, int | None, int | None]] = {
    "chance": (6.4e-6, 0, 0),
    "oracle": (1.5e-6, 0, 0),
    "diffa-tiny": (2.32, 62, 7),
    "diffa-tiny · threshold+dual-cache τ=0.9": (34.1, 62, 62),
    "qwen2-audio-tiny": (1.61, 204, 204),
}
_BREAKDOWN = {"mmau_test_mini": "task", "mmsu": "category"}


def _patch(path: Path, **changes: Any) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def sample_suite_runs(root: Path) -> Path:
    """Every run of the suite under `root` (one folder per model)."""
    for row, results in RESULTS.items():
        model = row.partition(" · ")[0]
        seconds, tokens, passes = COST[row]
        for task, result in results.items():
            n, metric, dataset, revision = DATASETS[task]
            if isinstance(result, str):  # "failed" or "pending": a run without any value
                value, by_label = (0.0, 0.0, 0.0), None
            else:
                value, by_label = result if isinstance(result[1], dict) else (result, None)
            breakdowns = None
            if by_label is not None:
                breakdowns = {_BREAKDOWN[task]: {label: {"accuracy": v} for label, v in by_label.items()}}
            produced = 0 if result == "failed" else n
            cost = RunCost(
                produced,
                seconds * produced,
                None if tokens is None else tokens * produced,
                None if passes is None else passes * produced,
            )
            metrics: dict[str, Value] = {metric: value}
            directory = write_run_v2(
                root, model, task, metrics, breakdowns=breakdowns, split="sample", cost=cost,
                variant=FAST if row != model else None, run_id=f"{row}-{task}", description=TASKS.get(task).describe(),
                scope=SampleScope(dataset=n, planned=n, max_failures=0.0),
            )  # fmt: skip
            _patch(
                directory / "manifest.json",
                dataset={"source": "bundled", "id": dataset, "revision": revision, "label_version": None},
            )
            excluded = 7 if (row, task) == ("qwen2-audio-tiny", "mmsu") else 0
            counts = {
                "n_samples": n,
                "n_scored": 0 if isinstance(result, str) else n - excluded,
                "n_excluded": excluded,
                "n_failed": n if result == "failed" else 0,
                "n_pending": n if result == "pending" else 0,
            }
            if isinstance(result, str):
                counts["metrics"] = {}
                counts["breakdowns"] = {}
            _patch(directory / "metrics.json", **counts)
    return root
