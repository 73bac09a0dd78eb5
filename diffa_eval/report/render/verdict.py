"""Writing a comparison's verdict: Markdown for a pull-request comment (the verdict, a table of metrics, the
flipped samples folded away) and JSON for CI (with every flipped sample id)."""

from __future__ import annotations

import json
from typing import Any

from ..compare import Verdict


def to_markdown(verdict: Verdict, max_flips: int = 20) -> str:
    """A summary for a pull-request comment: verdict, a table of metrics, flipped samples in <details>."""
    first = verdict.comparisons[0]
    tol = verdict.tolerance
    head = "❌ **regression**" if not verdict.passed else "✅ **no significant regression**"
    lines = [
        f"### diffa-eval compare: `{first.candidate_model}` vs baseline `{first.baseline_model}`",
        "",
        f"{head} (max drop {tol.max_drop:g}, alpha {tol.alpha:g}, "
        f"failure rate up by at most {tol.max_failure_increase:g} points)",
        "",
        "Failed samples count against their run: as wrong answers (WER: every reference word deleted) where "
        "the other run scored them; mean ratings leave them out.",
        "",
        "| task | metric | baseline | candidate | Δ [95% CI] | p | test | n | status |",
        "|---|---|---:|---:|---|---:|---|---:|---|",
    ]
    icons = {"regressed": "❌ regressed", "improved": "⬆️ improved", "unchanged": "unchanged"}
    for comparison in verdict.comparisons:
        task = comparison.task if comparison.split == "test" else f"{comparison.task} ({comparison.split})"
        for m in comparison.metrics:
            arrow = "↓" if m.lower_is_better else "↑"
            lines.append(
                f"| {task} | {m.metric} {arrow} | {m.baseline:.2f} | {m.candidate:.2f} | "
                f"{m.delta:+.2f} [{m.ci_low:+.2f}, {m.ci_high:+.2f}] | {m.p_value:.3g} | {m.test} | {m.n} | "
                f"{icons[m.status]} |"
            )
        if comparison.baseline_failed or comparison.candidate_failed:
            status = "❌ regressed" if comparison.failures_regressed else "ok"
            lines.append(
                f"| {task} | failed samples % ↓ | {comparison.baseline_failure_rate:.2f} | "
                f"{comparison.candidate_failure_rate:.2f} | "
                f"{comparison.candidate_failure_rate - comparison.baseline_failure_rate:+.2f} | | | "
                f"{comparison.baseline_failed} / {comparison.candidate_failed} | {status} |"
            )
    notes = []
    for comparison in verdict.comparisons:
        if comparison.only_baseline or comparison.only_candidate:
            notes.append(
                f"- {comparison.task}: {comparison.n_paired} samples paired; {comparison.only_baseline} scored only in "
                f"the baseline and {comparison.only_candidate} only in the candidate are left out"
            )
    for comparison in verdict.comparisons:
        for side, note in (("baseline", comparison.baseline_partial), ("candidate", comparison.candidate_partial)):
            if note:
                notes.append(f"- {comparison.task}: the {side} run is partial ({note}); no full run was given")
    notes += [f"- only on one side, not compared: {name}" for name in verdict.unmatched]
    if notes:
        lines += ["", *notes]
    for comparison in verdict.comparisons:
        for m in comparison.metrics:
            if not (m.regressions or m.improvements):
                continue
            summary = (
                f"{comparison.task} {m.metric}: {len(m.regressions)} samples got worse, {len(m.improvements)} better"
            )
            lines += ["", f"<details><summary>{summary}</summary>", ""]
            for label, ids in (("worse", m.regressions), ("better", m.improvements)):
                if ids:
                    shown = ", ".join(f"`{i}`" for i in ids[:max_flips])
                    more = f" and {len(ids) - max_flips} more" if len(ids) > max_flips else ""
                    lines.append(f"- {label}: {shown}{more}")
            lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def to_json(verdict: Verdict) -> str:
    """The machine-readable verdict, with every flipped sample id."""
    data: dict[str, Any] = {
        "passed": verdict.passed,
        "max_drop": verdict.tolerance.max_drop,
        "alpha": verdict.tolerance.alpha,
        "per_metric_max_drop": dict(verdict.tolerance.per_metric),
        "max_failure_increase": verdict.tolerance.max_failure_increase,
        "unmatched": list(verdict.unmatched),
        "comparisons": [
            {
                "task": c.task,
                "split": c.split,
                "baseline": {
                    "model": c.baseline_model,
                    "run_dir": c.baseline_run,
                    "partial": c.baseline_partial or None,
                },
                "candidate": {
                    "model": c.candidate_model,
                    "run_dir": c.candidate_run,
                    "partial": c.candidate_partial or None,
                },
                "n_paired": c.n_paired,
                "only_baseline": c.only_baseline,
                "only_candidate": c.only_candidate,
                "failures": {
                    "baseline": c.baseline_failed,
                    "candidate": c.candidate_failed,
                    "baseline_rate": c.baseline_failure_rate,
                    "candidate_rate": c.candidate_failure_rate,
                    "regressed": c.failures_regressed,
                },
                "metrics": [
                    {
                        "metric": m.metric,
                        "lower_is_better": m.lower_is_better,
                        "baseline": m.baseline,
                        "candidate": m.candidate,
                        "delta": m.delta,
                        "ci_low": m.ci_low,
                        "ci_high": m.ci_high,
                        "p_value": m.p_value,
                        "test": m.test,
                        "n": m.n,
                        "max_drop": m.max_drop,
                        "status": m.status,
                        "flips": {"worse": list(m.regressions), "better": list(m.improvements)},
                    }
                    for m in c.metrics
                ],
            }
            for c in verdict.comparisons
        ],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
