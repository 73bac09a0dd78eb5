"""Leaderboard rows per model and variant, the run behind each cell chosen by content, partial runs, cost columns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from diffa_eval.describe import SampleScope, VariantInfo
from diffa_eval.errors import ConfigError
from diffa_eval.report.tables import build_table, to_csv, to_html, to_json, to_latex, to_markdown, to_rich
from diffa_eval.store import find_runs
from diffa_eval.types import RunCost

from .stored_runs import accuracy_records, write_run, write_run_v2

FAST = VariantInfo({"options": {"decoding": "threshold+dual-cache"}}, "threshold+dual-cache τ=0.9")


def _limited(planned: int = 3, dataset: int = 10) -> SampleScope:
    return SampleScope(dataset=dataset, planned=planned, limit=planned, max_failures=0.0)


def _cells(table_rows: list, key: str) -> dict[str, float]:  # type: ignore[type-arg]
    return {row.name: row.cells[key].value for row in table_rows if key in row.cells}


def test_each_variant_of_a_model_is_a_row_named_with_its_variant_label(tmp_path: Path) -> None:
    write_run_v2(tmp_path, "diffa-tiny", "mmar", {"accuracy": 40.0})
    write_run_v2(tmp_path, "diffa-tiny", "mmar", {"accuracy": 35.0}, variant=FAST, run_id="fast")
    write_run_v2(tmp_path, "qwen2-audio-tiny", "mmar", {"accuracy": 50.0})
    table = build_table(find_runs([tmp_path]))
    assert _cells(table.rows, "mmar:avg") == {
        "diffa-tiny": 40.0,
        "diffa-tiny · threshold+dual-cache τ=0.9": 35.0,
        "qwen2-audio-tiny": 50.0,
    }
    assert [row.name for row in table.rows][:2] == ["diffa-tiny", "diffa-tiny · threshold+dual-cache τ=0.9"]
    assert dict(table.rows[1].variant.settings) == {"options": {"decoding": "threshold+dual-cache"}}


def test_a_model_name_selects_all_its_rows_and_a_row_label_one_row(tmp_path: Path) -> None:
    write_run_v2(tmp_path, "diffa-tiny", "mmar", {"accuracy": 40.0})
    write_run_v2(tmp_path, "diffa-tiny", "mmar", {"accuracy": 35.0}, variant=FAST, run_id="fast")
    runs = find_runs([tmp_path])
    assert len(build_table(runs, models=["diffa-tiny"]).rows) == 2
    (row,) = build_table(runs, models=["diffa-tiny · threshold+dual-cache τ=0.9"]).rows
    assert (row.name, row.cells["mmar:avg"].value) == ("diffa-tiny", 35.0)  # the one row of its model shown
    with pytest.raises(ConfigError, match="no completed runs of diffa-2"):
        build_table(runs, models=["diffa-2"])


def test_a_limited_run_never_replaces_a_full_one(tmp_path: Path) -> None:
    write_run_v2(tmp_path, "chance", "mmar", {"accuracy": 20.0}, run_id="full", finished_at="2026-01-01T00:00:00")
    write_run_v2(
        tmp_path, "chance", "mmar", {"accuracy": 33.33}, run_id="a-limited", scope=_limited(),
        finished_at="2026-01-02T00:00:00",
    )  # fmt: skip
    for partial in (False, True):
        (row,) = build_table(find_runs([tmp_path]), partial=partial).rows
        assert (row.cells["mmar:avg"].value, row.cells["mmar:avg"].partial) == (20.0, "")


def test_a_run_with_more_failures_than_it_allowed_never_replaces_a_full_one(tmp_path: Path) -> None:
    write_run_v2(tmp_path / "v2", "chance", "mmar", {"accuracy": 20.0}, run_id="full")
    write_run_v2(tmp_path / "v2", "chance", "mmar", {"accuracy": 90.0}, run_id="a-failed", n_failed=4)
    write_run_v2(
        tmp_path / "v2", "chance", "mmar", {"accuracy": 80.0}, run_id="a-tolerated", n_failed=1, max_failures=0.1
    )
    (row,) = build_table(find_runs([tmp_path / "v2"]), partial=True).rows
    assert row.cells["mmar:avg"].value == 20.0  # more scored samples than the tolerated run's, none failing
    # version 1 records no tolerance, but a run whose every sample failed is never a full one
    write_run(tmp_path / "v1", "chance", "mmar", {"accuracy": 20.0}, run_id="full")
    write_run(tmp_path / "v1", "chance", "mmar", {"accuracy": 0.0}, run_id="a-all-failed", n_failed=10)
    (row,) = build_table(find_runs([tmp_path / "v1"]), partial=True).rows
    assert row.cells["mmar:avg"].value == 20.0


def test_partial_runs_are_shown_marked_and_unranked_only_when_asked(tmp_path: Path) -> None:
    write_run_v2(tmp_path, "alpha", "mmar", {"accuracy": 20.0})
    write_run_v2(tmp_path, "beta", "mmar", {"accuracy": 33.33}, scope=_limited())
    write_run_v2(tmp_path, "gamma", "mmar", {"accuracy": 10.0}, n_failed=4)
    runs = find_runs([tmp_path])
    hidden = build_table(runs)
    assert [row.name for row in hidden.rows] == ["alpha"]
    assert hidden.partial_left_out == 2 and "2 partial runs left out" in " ".join(hidden.footnotes)
    shown = build_table(runs, partial=True)
    assert [(row.name, row.cells["mmar:avg"].partial) for row in shown.rows] == [
        ("alpha", ""),
        ("beta", "3 of 10 samples"),
        ("gamma", "failed 4 of 10"),
    ]
    assert shown.ranks() == {}  # one full value: nothing to rank against
    markdown = to_markdown(shown)
    assert "| beta | 33.33‡ |" in markdown and "| gamma | 10.00*‡ |" in markdown
    assert "‡ partial run, not ranked: beta on mmar (test): 3 of 10 samples; gamma on mmar (test): failed 4 of 10" in (
        markdown
    )
    data = json.loads(to_json(shown))
    assert data["rows"][1]["cells"]["mmar:avg"]["partial"] == "3 of 10 samples"
    assert "3 of 10 samples" in to_csv(shown).splitlines()[2]


def test_more_scored_samples_then_a_newer_task_version_win(tmp_path: Path) -> None:
    write_run_v2(tmp_path, "alpha", "mmar", {"accuracy": 50.0}, run_id="a", n_failed=1, max_failures=0.5)
    write_run_v2(tmp_path, "alpha", "mmar", {"accuracy": 40.0}, run_id="b")
    assert build_table(find_runs([tmp_path])).rows[0].cells["mmar:avg"].value == 40.0
    write_run_v2(tmp_path, "alpha", "mmar", {"accuracy": 45.0}, run_id="c", task_version=2)
    assert build_table(find_runs([tmp_path])).rows[0].cells["mmar:avg"].value == 45.0


def test_a_run_that_is_running_again_is_not_shown_with_its_old_metrics(tmp_path: Path) -> None:
    directory = write_run_v2(tmp_path, "alpha", "mmar", {"accuracy": 50.0})
    write_run_v2(tmp_path, "beta", "mmar", {"accuracy": 40.0})
    manifest = json.loads((directory / "manifest.json").read_text())
    (directory / "manifest.json").write_text(json.dumps({**manifest, "status": "running"}))
    assert [row.name for row in build_table(find_runs([tmp_path])).rows] == ["beta"]


def test_group_scores_are_computed_for_each_row_from_its_own_runs(tmp_path: Path) -> None:
    nine = {
        "voicebench_alpacaeval_full": "gpt_score", "voicebench_commoneval": "gpt_score",
        "voicebench_wildvoice": "gpt_score", "voicebench_sd_qa": "score", "voicebench_mmsu": "accuracy",
        "voicebench_openbookqa": "accuracy", "voicebench_bbh": "accuracy", "voicebench_ifeval": "final",
        "voicebench_advbench": "refusal_rate",
    }  # fmt: skip
    for variant, (rating, percent) in ((None, (4.0, 70.0)), (FAST, (3.0, 61.0))):
        for task, metric in nine.items():
            value = rating if metric == "gpt_score" else percent
            write_run_v2(tmp_path, "diffa-2", task, {metric: value}, variant=variant, run_id=f"{task}-{variant}")
    table = build_table(find_runs([tmp_path]))
    assert _cells(table.rows, "voicebench:overall") == {
        "diffa-2": pytest.approx((3 * 80.0 + 6 * 70.0) / 9),
        "diffa-2 · threshold+dual-cache τ=0.9": pytest.approx((3 * 60.0 + 6 * 61.0) / 9),
    }


def _cost_runs(root: Path) -> Path:
    cost = {"mmar": RunCost(10, 5.0, 160, 320), "librispeech_test_clean": RunCost(10, 15.0, 100, 200)}
    for task, totals in cost.items():
        metric = "wer" if task.startswith("librispeech") else "accuracy"
        write_run_v2(root, "diffa-tiny", task, {metric: 30.0}, cost=totals, device="cuda:0")
        write_run_v2(
            root, "diffa-tiny", task, {metric: 28.0}, variant=FAST, run_id=f"fast-{task}", device="cuda:0",
            cost=RunCost(10, 2.0, totals.generated_tokens, (totals.forward_passes or 0) // 4),
        )  # fmt: skip
    write_run_v2(root, "qwen2-audio-tiny", "mmar", {"accuracy": 25.0}, cost=RunCost(10, 1.0, 80, None))
    # a version-1 run: its cost is summed from its records
    write_run(root, "whisper-tiny", "mmar", {"accuracy": 10.0}, records=accuracy_records([1, 0] * 5, 0.5, 16))
    return root


def test_cost_columns_are_the_per_sample_cost_of_the_runs_behind_each_row(tmp_path: Path) -> None:
    table = build_table(find_runs([_cost_runs(tmp_path)]), cost=True)
    costs = {row.name: row.cost for row in table.rows}
    default, fast = costs["diffa-tiny"], costs["diffa-tiny · threshold+dual-cache τ=0.9"]
    assert default is not None and fast is not None
    assert (default.passes_per_sample, default.tokens_per_sample, default.seconds_per_sample) == (26.0, 13.0, 1.0)
    assert (default.samples_per_second, default.device) == (1.0, "cuda:0")
    assert (fast.passes_per_sample, fast.samples_per_second) == (6.5, 5.0)
    ar, v1 = costs["qwen2-audio-tiny"], costs["whisper-tiny"]
    assert ar is not None and ar.passes_per_sample is None and ar.tokens_per_sample == 8.0
    assert v1 is not None and (v1.passes_per_sample, v1.seconds_per_sample, v1.device) == (16.0, 0.5, "cpu")
    only_mmar = build_table(find_runs([tmp_path]), cost=True, benchmarks=["mmar"])
    mmar_cost = only_mmar.rows[0].cost
    assert mmar_cost is not None and mmar_cost.passes_per_sample == 32.0
    assert not any(row.cost for row in build_table(find_runs([tmp_path])).rows)


def test_cost_columns_appear_in_every_format(tmp_path: Path) -> None:
    table = build_table(find_runs([_cost_runs(tmp_path)]), cost=True)
    fast = "diffa-tiny · threshold+dual-cache τ=0.9"
    markdown = to_markdown(table)
    assert markdown.splitlines()[0].endswith(
        "| cost · passes/sample | cost · tokens/sample | cost · s/sample | cost · samples/s | cost · device |"
    )
    assert f"| {fast} | <ins>28.00</ins> | **28.00** | 6.50 | 13.0 | 0.200 | 5.00 | cuda:0 |" in markdown
    assert "| qwen2-audio-tiny | 25.00 | – | – | 8.00 | 0.100 | 10.0 | cpu |" in markdown
    assert any(note.startswith("Cost: per sample") for note in table.footnotes)
    latex = to_latex(table)
    assert r"\multicolumn{5}{c}{cost}" in latex
    assert (
        r"threshold+dual-cache $\tau$=0.9 & \underline{28.00} & \textbf{28.00} & 6.50 & 13.0 & 0.200 & 5.00 & cuda:0"
        in (latex)
    )
    page = to_html(table)
    assert '<th colspan="5">cost</th>' in page
    assert '<td class="group-start">6.50</td><td>13.0</td><td>0.200</td>' in page  # the cost group starts a rule
    lines = to_csv(table).splitlines()
    assert lines[0].endswith(",source,spec,variant,settings,partial")
    settings = '"{""options"":{""decoding"":""threshold+dual-cache""}}"'
    assert f"{fast},measured,cost,,passes/sample,,forward_passes_per_sample,6.5,,,,,,diffa-tiny," in "\n".join(lines)
    assert any(line.endswith(f"threshold+dual-cache τ=0.9,{settings},") for line in lines)
    rows = {row["model"]: row for row in json.loads(to_json(table))["rows"]}
    assert rows[fast]["spec"] == "diffa-tiny"
    assert rows[fast]["variant"]["settings"] == {"options": {"decoding": "threshold+dual-cache"}}
    assert rows[fast]["cost"]["forward_passes_per_sample"] == 6.5 and rows[fast]["cost"]["device"] == "cuda:0"
    console = Console(width=300, record=True)
    console.print(to_rich(table))
    text = console.export_text()
    assert "passes/sample" in text and "samples/s" in text and fast in text
