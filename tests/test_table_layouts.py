"""The widest real leaderboard (the full sample suite, a second decoding mode, cost columns, intervals) as
LaTeX that fits one- and two-column pages, compiled with pdflatex where it is installed, and in the terminal
at 80 and 160 columns with every name whole."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from diffa_eval.cli import app
from diffa_eval.report.tables import GroupedTable, build_table, to_latex, to_rich
from diffa_eval.store import find_runs

from .sample_suite import ROWS, sample_suite_runs


@pytest.fixture
def pdflatex() -> str:
    """The pdflatex program; in CI its absence fails the test, so that no table goes uncompiled there."""
    found = shutil.which("pdflatex")
    if found is None:
        message = "pdflatex is not installed (apt: texlive-latex-extra)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


TEXT = "Text of the paper around the table. " * 30


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sample_suite_runs(tmp_path_factory.mktemp("suite"))


@pytest.fixture(scope="module")
def board(suite: Path) -> GroupedTable:
    return build_table(find_runs([suite]), cost=True)


@pytest.fixture(scope="module")
def board_without_cost(suite: Path) -> GroupedTable:
    return build_table(find_runs([suite]))


def _compile(pdflatex: str, folder: Path, name: str, source: str) -> str:
    """pdflatex's log of `source`, compiled in `folder`; the test fails when pdflatex stops."""
    (folder / f"{name}.tex").write_text(source)
    done = subprocess.run(
        [pdflatex, "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = (folder / f"{name}.log").read_text(errors="replace")
    assert done.returncode == 0, log[-3000:]
    assert (folder / f"{name}.pdf").stat().st_size > 0
    return log


def _paper(table: str, two_column: bool) -> str:
    """A paper with the table among its text, as an author would paste it."""
    options = "[twocolumn]" if two_column else ""
    return (
        f"\\documentclass{options}{{article}}\n\\usepackage{{booktabs,adjustbox}}\n\\begin{{document}}\n"
        f"{TEXT}\n\n{table}\n{TEXT}\n\\end{{document}}\n"
    )


DOCUMENTS = {  # name: (two-column page, table*)
    "one-column": (False, False),
    "two-column-table*": (True, True),
    "two-column-one-column-wide": (True, False),
}


@pytest.mark.parametrize("cost", [True, False], ids=["cost", "no-cost"])
@pytest.mark.parametrize("ci", [True, False], ids=["ci", "no-ci"])
@pytest.mark.parametrize("layout", ["auto", "wide", "split", "transposed"])
@pytest.mark.parametrize("document", list(DOCUMENTS))
def test_the_full_sample_suite_compiles_without_an_overfull_box(
    pdflatex: str,
    board: GroupedTable,
    board_without_cost: GroupedTable,
    tmp_path: Path,
    layout: str,
    document: str,
    ci: bool,
    cost: bool,
) -> None:
    two_column_page, star = DOCUMENTS[document]
    shown = board if cost else board_without_cost
    table = to_latex(shown, with_ci=ci, layout=layout, two_column=star, provenance=True)
    log = _compile(pdflatex, tmp_path, "paper", _paper(table, two_column_page))
    assert "Overfull \\hbox" not in log
    assert "Float too large" not in log


@pytest.mark.parametrize("two_column", [False, True])
def test_the_standalone_document_of_the_command_line_compiles_without_an_overfull_box(
    pdflatex: str, suite: Path, tmp_path: Path, two_column: bool
) -> None:
    out = tmp_path / "table.tex"
    args = ["table", str(suite), "-f", "latex", "--ci", "--cost", "--standalone", "-o", str(out)]
    result = CliRunner().invoke(app, args + (["--two-column"] if two_column else []))
    assert result.exit_code == 0, result.output
    log = _compile(pdflatex, tmp_path, "table", out.read_text())
    assert "Overfull \\hbox" not in log and "Float too large" not in log


def _blocks(latex: str) -> list[str]:
    """The tabulars with models as rows (one in the wide layout, several when split)."""
    return re.findall(r"\\begin\{tabular\}\{@\{\}l.*?\\end\{tabular\}", latex, re.DOTALL)


def test_every_layout_shrinks_its_tabulars_to_the_line_width_never_beyond(board: GroupedTable) -> None:
    for layout in ("wide", "split", "transposed"):
        latex = to_latex(board, layout=layout)
        assert latex.count(r"\begin{adjustbox}{max totalsize={\linewidth}{\textheight-5\baselineskip") == 1
        assert latex.index(r"\begin{adjustbox}") < latex.index(r"\begin{tabular}")
        assert latex.rstrip().endswith(r"\end{table}")
    assert to_latex(board, two_column=True).rstrip().endswith(r"\end{table*}")


def test_the_split_layout_keeps_each_benchmark_whole_in_one_tabular_with_the_model_column(board: GroupedTable) -> None:
    (wide,) = _blocks(to_latex(board, layout="wide"))
    blocks = _blocks(to_latex(board, layout="split"))
    assert len(blocks) > 1
    titles = ["MMAU test-mini", "MMSU", "MMAR", "VoiceBench", "LibriSpeech WER", "cost"]
    for title in titles:
        assert rf"{{c}}{{{title}}}" in wide
        assert sum(rf"{{c}}{{{title}}}" in block for block in blocks) == 1
    assert all("\nchance &" in block and "Model &" in block for block in blocks)
    assert r"\begin{tabular}{@{}l@{}}" in to_latex(board, layout="split")  # stacked flush left: model columns align


def test_the_transposed_layout_has_models_as_columns_and_benchmark_columns_as_rows(board: GroupedTable) -> None:
    tabular = to_latex(board, layout="transposed")
    header = tabular.split(r"\midrule")[0]
    assert all(name in header for name in ("chance", "oracle", "qwen2-audio-tiny"))
    assert r"diffa-tiny\\threshold+dual-cache\\$\tau$=0.9" in header  # the variant under its model
    for heading in ("MMAU test-mini", "MMSU", "MMAR", "VoiceBench", "LibriSpeech WER", "cost"):
        assert rf"\textit{{{heading}}}" in tabular
    assert r"\quad perception $\uparrow$ &" in tabular and r"\quad samples/s &" in tabular


def test_auto_keeps_a_table_wide_when_it_fits_and_transposes_or_splits_one_that_does_not(
    board: GroupedTable, suite: Path
) -> None:
    small = build_table(find_runs([suite]), benchmarks=["mmar"], models=["chance", "oracle"])
    assert "Model &" in to_latex(small) and r"\textit{MMAR}" not in to_latex(small)
    assert to_latex(board) in {to_latex(board, layout="split"), to_latex(board, layout="transposed")}
    assert to_latex(board) != to_latex(board, layout="wide")


def test_values_and_intervals_are_aligned_column_pairs_with_marks_after_the_interval(board: GroupedTable) -> None:
    latex = to_latex(board, with_ci=True, layout="wide")
    assert r"{@{}lr@{}lr@{}l" in latex  # each quality column: value right, interval and marks left
    chance = next(line for line in latex.splitlines() if line.startswith("chance &"))
    assert r"\underline{33.33} & {\scriptsize\,$\pm$50.00} &" in chance


def test_bold_marks_a_best_value_only_where_some_value_is_worse(board: GroupedTable) -> None:
    latex = to_latex(board, layout="transposed")
    rows = {line.split(" & ")[0].strip(): line for line in latex.splitlines() if line.startswith(r"\quad ")}
    assert r"\textbf" not in rows[r"\quad alpacaeval $\uparrow$"]  # every row rated 5.00
    assert r"\textbf" not in rows[r"\quad bbh $\uparrow$"]  # every row 100.00
    assert rows[r"\quad advbench $\uparrow$"].count(r"\textbf{100.00}") == 4  # all but one


def test_failed_and_left_out_cells_are_named_apart_from_runs_never_made(board: GroupedTable, suite: Path) -> None:
    latex = to_latex(board, layout="wide")
    oracle = next(line for line in latex.splitlines() if line.startswith("oracle &"))
    qwen = next(line for line in latex.splitlines() if line.startswith("qwen2-audio-tiny &"))
    assert oracle.count(r"\textit{failed}") == 4  # the open-ended VoiceBench subsets
    assert r"\textit{n/a}" in qwen  # every MMSU reasoning answer left out by the protocol
    assert "failed: every sample of its run failed" in latex and "--: not run" in latex
    runs = [run for run in find_runs([suite]) if (run.manifest.model, run.manifest.task) != ("oracle", "mmar")]
    oracle_row = next(row for row in build_table(runs).rows if row.name == "oracle")
    assert "mmar:avg@sample" not in oracle_row.cells and "mmar:avg@sample" not in oracle_row.gaps  # not run: –


def test_a_task_that_ran_but_whose_runs_all_await_scoring_is_named_under_the_table(board: GroupedTable) -> None:
    assert not any(column.spec.task == "voicebench_sd_qa" for column in board.columns)  # no value in any row
    assert "voicebench_sd_qa (sample) has no column although it ran: its outputs await scoring (e.g. by the judge)" in (
        board.footnotes
    )
    assert not any("voicebench_alpacaeval " in note for note in board.footnotes)  # its runs have values


def test_the_caption_says_what_the_table_shows_and_the_notes_say_what_the_marks_mean(board: GroupedTable) -> None:
    latex = to_latex(board, with_ci=True)
    assert (
        r"\caption{Results on MMAU test-mini, MMSU, MMAR, VoiceBench and LibriSpeech WER (sample split), with the "
        r"compute cost per sample.}" in latex
    )
    assert r"\textbf{bold}: best; \underline{underlined}: second; $\pm$: half-width of the 95\% bootstrap interval" in (
        latex
    )
    assert r"\caption{Main results.}" in to_latex(board, caption="Main results.")
    assert "MMSU: accuracy (\\%), official letter rule" in latex


def test_dataset_revisions_are_comments_unless_a_provenance_line_is_asked_for(board: GroupedTable) -> None:
    plain = to_latex(board)
    comments = [line for line in plain.splitlines() if line.startswith("% Data: ")]
    assert "% Data: bundled:mmsu/mmsu.jsonl@02235506" in comments and len(comments) == len(board.datasets)
    body = "\n".join(line for line in plain.splitlines() if not line.startswith("%"))
    assert "02235506" not in body
    with_line = to_latex(board, provenance=True)
    assert "Data: bundled:" in with_line
    assert r"bundled:\allowbreak{}mmsu/\allowbreak{}mmsu.jsonl@\allowbreak{}02235506" in with_line


@pytest.mark.parametrize("width", [80, 160])
def test_the_terminal_table_splits_by_benchmark_so_that_no_name_is_cut(board: GroupedTable, width: int) -> None:
    console = Console(width=width, record=True)
    console.print(to_rich(board, with_ci=True))
    text = console.export_text()
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width
    lines = text.splitlines()
    for name in ROWS:
        assert any(f"│ {name} " in line for line in lines), name
    for label in ("perception ↑", "commoneval ↑", "advbench ↑", "clean ↓", "passes/sample", "samples/s", "LibriSpeech"):
        assert label in text
    assert sum("┃ model " in line for line in lines) > 1  # several tables, each with the model column
    assert "diffa-eval leaderboard (sample split)" in text
    assert text.count("MMSU: accuracy (%), official letter rule") == 1  # the notes once, after the last table


def test_the_terminal_table_stays_one_table_where_it_fits(board: GroupedTable) -> None:
    console = Console(width=400, record=True)
    console.print(to_rich(board, with_ci=True))
    text = console.export_text()
    assert sum("┃ model " in line for line in text.splitlines()) == 1 and "…" not in text
