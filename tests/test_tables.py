"""Grouped leaderboards: layout per benchmark, best/second marks by direction, golden Markdown and LaTeX."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from diffa_eval.errors import ConfigError
from diffa_eval.report.reported import ReportedEntry, ReportedSource, read_reported
from diffa_eval.report.tables import build_table, to_csv, to_html, to_json, to_latex, to_markdown
from diffa_eval.store import find_runs

from .conftest import REPO
from .stored_runs import paper_runs, write_run, write_run_v2

GOLDEN = Path(__file__).parent / "golden"

PAPER = ReportedSource(
    id="example-paper",
    title="Example paper, Table 2",
    citation="arXiv 0000.00000",
    protocol="MMAU-v05.15.25 labels, official string match",
    split="test",
    entries=(
        ReportedEntry("Alpha-7B", {"mmau_test_mini:avg": 62.0, "mmau_test_mini:sound": 71.0}, matches="alpha"),
        ReportedEntry("Omega", {"mmau_test_mini:avg": 66.0, "librispeech:clean": 1.9}, self_reported=True),
    ),
)


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("DIFFA_EVAL_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; rerun with DIFFA_EVAL_UPDATE_GOLDEN=1 if intended"


@pytest.fixture
def runs(tmp_path: Path) -> list:  # type: ignore[type-arg]
    return find_runs([paper_runs(tmp_path)])


def test_benchmarks_are_column_groups_with_sub_columns_in_the_default_order(runs: list) -> None:  # type: ignore[type-arg]
    table = build_table(runs)
    assert [(title, [c.spec.label for c in columns]) for title, columns in table.groups()] == [
        ("MMAU test-mini", ["sound", "music", "speech", "avg"]),
        ("MMSU", ["perception", "reasoning", "avg"]),
        ("LibriSpeech WER", ["clean", "other"]),
    ]
    assert [row.name for row in table.rows] == ["alpha", "beta", "gamma"]


def test_best_is_rank_1_and_second_rank_2_in_the_metric_direction(runs: list) -> None:  # type: ignore[type-arg]
    table = build_table(runs)
    ranks = table.ranks()
    by_name = {row.name: i for i, row in enumerate(table.rows)}
    # higher accuracy is better; alpha and gamma tie on MMAU sound and share the best rank
    assert ranks[(by_name["beta"], "mmau_test_mini:avg")] == 1
    assert ranks[(by_name["alpha"], "mmau_test_mini:avg")] == 2
    assert (by_name["gamma"], "mmau_test_mini:avg") not in ranks
    assert ranks[(by_name["alpha"], "mmau_test_mini:sound")] == ranks[(by_name["gamma"], "mmau_test_mini:sound")] == 1
    assert ranks[(by_name["beta"], "mmau_test_mini:sound")] == 2
    # lower WER is better
    assert ranks[(by_name["gamma"], "librispeech:clean")] == 1
    assert ranks[(by_name["alpha"], "librispeech:clean")] == 2
    assert ranks[(by_name["beta"], "librispeech:other")] == 1
    assert (by_name["gamma"], "librispeech:other") not in ranks


def test_markdown_golden(runs: list) -> None:  # type: ignore[type-arg]
    _check_golden("leaderboard.md", to_markdown(build_table(runs, reported=[PAPER], delta=True), with_ci=True))


def test_latex_golden(runs: list) -> None:  # type: ignore[type-arg]
    table = build_table(runs, reported=[PAPER], delta=True)
    _check_golden(
        "leaderboard.tex", to_latex(table, with_ci=True, caption="Audio understanding and ASR.", label="tab:main")
    )


def test_latex_marks_best_bold_and_second_underlined_by_direction(runs: list) -> None:  # type: ignore[type-arg]
    lines = {line.split(" & ")[0]: line for line in to_latex(build_table(runs)).splitlines() if " & " in line}
    assert r"\textbf{2.20}" in lines["gamma"] and r"\underline{2.50}" in lines["alpha"]
    assert r"\textbf{64.50}" in lines["beta"] and r"\underline{60.00}" in lines["alpha"]


def test_reported_rows_follow_measured_ones_with_delta_and_marks(runs: list) -> None:  # type: ignore[type-arg]
    table = build_table(runs, reported=[PAPER], delta=True)
    assert [(row.name, row.kind) for row in table.rows] == [
        ("alpha", "measured"),
        ("Δ alpha − Alpha-7B", "delta"),
        ("beta", "measured"),
        ("gamma", "measured"),
        ("Alpha-7B", "reported"),
        ("Omega", "reported"),
    ]
    delta = table.rows[1].cells
    assert delta["mmau_test_mini:avg"].value == pytest.approx(60.0 - 62.0)
    assert delta["mmau_test_mini:sound"].value == pytest.approx(70.0 - 71.0)
    # a reported value competes for best: Omega's 66.0 beats every measured MMAU average
    assert table.ranks()[(5, "mmau_test_mini:avg")] == 1
    assert table.rows[5].cells["librispeech:clean"].self_reported
    assert any(
        note.startswith("† example-paper: Example paper, Table 2 (arXiv 0000.00000)") for note in table.footnotes
    )


def test_options_choose_column_groups_and_rows(runs: list) -> None:  # type: ignore[type-arg]
    table = build_table(runs, benchmarks=["librispeech", "mmsu"], models=["gamma", "alpha"])
    assert [title for title, _ in table.groups()] == ["LibriSpeech WER", "MMSU"]
    assert [row.name for row in table.rows] == ["gamma", "alpha"]
    with pytest.raises(ConfigError, match="unknown benchmark voicebnech"):
        build_table(runs, benchmarks=["voicebnech"])


def test_other_splits_and_unknown_tasks_get_their_own_groups(tmp_path: Path) -> None:
    write_run(tmp_path, "alpha", "mmau_test_mini", {"accuracy": 50.0}, split="sample")
    write_run(tmp_path, "alpha", "my_task", {"f1": 40.0})
    table = build_table(find_runs([tmp_path]))
    assert [(title, [c.spec.label for c in cols]) for title, cols in table.groups()] == [
        ("MMAU test-mini (sample)", ["avg"]),
        ("my_task", ["f1"]),
    ]


def test_the_choice_among_equal_runs_does_not_depend_on_finish_times(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shown = []
    for order, times in enumerate((("2026-01-02", "2026-01-01"), ("2026-01-01", "2026-01-02"))):
        root = tmp_path / str(order)
        for run_id, value, day in (("run-a", 40.0, times[0]), ("run-b", 30.0, times[1])):
            write_run(root, "alpha", "mmar", {"accuracy": value}, finished_at=f"{day}T00:00:00+00:00", run_id=run_id)
        shown.append(build_table(find_runs([root])).rows[0].cells["mmar:avg"].value)
    assert shown == [40.0, 40.0]  # run-a, first by run id, whichever finished last
    assert "2 runs of equal coverage report different numbers" in caplog.text


def test_equal_runs_that_agree_raise_no_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    for root in ("node0", "node1"):  # the same run gathered from two output folders
        write_run(tmp_path / root, "alpha", "mmar", {"accuracy": 40.0}, run_id="run-a")
    assert build_table(find_runs([tmp_path])).rows[0].cells["mmar:avg"].value == 40.0
    assert "report different numbers" not in caplog.text


def test_csv_and_json_carry_every_cell_with_its_rank(runs: list) -> None:  # type: ignore[type-arg]
    table = build_table(runs)
    lines = to_csv(table).splitlines()
    assert lines[0].startswith("model,kind,benchmark,split,column,task,metric,value,ci_low,ci_high")
    assert any(
        line.startswith("beta,measured,mmau_test_mini,test,avg,mmau_test_mini,accuracy,64.5000,61.5000,67.5000,")
        for line in lines
    )
    data = json.loads(to_json(table))
    assert data["rows"][1]["cells"]["mmau_test_mini:avg"]["rank"] == 1
    assert data["columns"][0]["breakdown"] == ["task", "sound"]


def test_html_is_one_self_contained_page(runs: list) -> None:  # type: ignore[type-arg]
    page = to_html(build_table(runs), with_ci=True)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert '<th colspan="4">MMAU test-mini</th>' in page
    assert "<strong>64.50</strong>" in page and "<u>60.00</u>" in page
    assert "http" not in page and "<script src" not in page and "<link" not in page  # its one script is inline


def test_the_bundled_reported_numbers_name_known_columns_and_their_sources() -> None:
    sources = read_reported(REPO / "results" / "reported")
    assert {s.id for s in sources} >= {"mmsu-leaderboard", "mmau-leaderboard-v05.15.25", "voicebench-leaderboard"}
    for source in sources:
        assert source.citation and source.protocol
    table = build_table([], reported=sources)  # an unknown column would be a ConfigError
    assert {row.kind for row in table.rows} == {"reported"}
    assert sum(len(row.cells) for row in table.rows) == sum(
        len(entry.values) for source in sources for entry in source.entries
    )


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no pdflatex")
def test_the_latex_table_compiles(runs: list, tmp_path: Path) -> None:  # type: ignore[type-arg]
    source = tmp_path / "table.tex"
    source.write_text(to_latex(build_table(runs, reported=[PAPER], delta=True), with_ci=True, standalone=True))
    done = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", source.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert (tmp_path / "table.pdf").stat().st_size > 0


def test_runs_of_other_settings_get_rows_of_their_own(tmp_path: Path) -> None:
    from diffa_eval.run import RunOptions, evaluate
    from diffa_eval.task import resolve_tasks
    from diffa_eval.types import ModelSpec

    for prompt in (None, "official-2025"):
        options = RunOptions(split="sample", output_dir=tmp_path, prompt=prompt)
        evaluate([ModelSpec("chance")], resolve_tasks(["mmsu"]), options)
    table = build_table(find_runs([tmp_path]))
    assert [(row.name, dict(row.variant.settings)) for row in table.rows] == [
        ("chance", {}),
        ("chance · prompt official-2025", {"prompt": "official-2025"}),
    ]


def test_the_version_2_form_of_the_same_runs_renders_the_same_tables(tmp_path: Path) -> None:
    version_1 = find_runs([paper_runs(tmp_path / "v1")])
    version_2 = find_runs([paper_runs(tmp_path / "v2", write_run_v2)])
    assert {run.manifest.schema_version for run in version_1} == {1}
    assert all(run.manifest.description is not None for run in version_2)
    for render in (to_markdown, to_latex, to_csv, to_json):
        old = render(build_table(version_1, reported=[PAPER], delta=True)).replace(str(tmp_path / "v1"), "ROOT")
        new = render(build_table(version_2, reported=[PAPER], delta=True)).replace(str(tmp_path / "v2"), "ROOT")
        assert old == new
