"""`diffa-eval compare`: aligned samples, paired deltas, and an exit code a CI job can gate on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from diffa_eval.cli import app
from diffa_eval.report.compare import Tolerance, compare
from diffa_eval.store import SampleRecord, find_runs

from .conftest import write_audio
from .stored_runs import accuracy_records, wer_records, write_run

runner = CliRunner()

BASELINE = [1] * 60 + [0] * 40


def _runs(root: Path, candidate: list[int], wer: list[tuple[int, int]] | None = None) -> tuple[Path, Path]:
    base, cand = root / "baseline", root / "candidate"
    write_run(base, "ckpt-1000", "mmau_test_mini", {"accuracy": 60.0}, records=accuracy_records(BASELINE))
    write_run(cand, "ckpt-2000", "mmau_test_mini", {"accuracy": 0.0}, records=accuracy_records(candidate))
    if wer is not None:
        write_run(base, "ckpt-1000", "librispeech_test_clean", {"wer": 5.0}, records=wer_records([(1, 20)] * 40))
        write_run(cand, "ckpt-2000", "librispeech_test_clean", {"wer": 0.0}, records=wer_records(wer))
    return base, cand


def _compare(base: Path, cand: Path, *options: str) -> tuple[int, str, dict]:  # type: ignore[type-arg]
    verdict = base.parent / "verdict.json"
    result = runner.invoke(app, ["compare", str(base), str(cand), "--json", str(verdict), *options])
    return result.exit_code, result.output, json.loads(verdict.read_text())


def test_an_improvement_passes(tmp_path: Path) -> None:
    code, output, verdict = _compare(*_runs(tmp_path, [1] * 80 + [0] * 20))
    assert code == 0, output
    assert "✅ **no significant regression**" in output
    metric = verdict["comparisons"][0]["metrics"][0]
    assert (metric["metric"], metric["status"], metric["test"]) == ("accuracy", "improved", "mcnemar")
    assert metric["delta"] == 20.0 and metric["p_value"] < 0.001
    assert metric["flips"]["better"] == [f"s{i}" for i in range(60, 80)]


def test_no_change_passes(tmp_path: Path) -> None:
    code, output, verdict = _compare(*_runs(tmp_path, list(BASELINE)))
    assert code == 0, output
    metric = verdict["comparisons"][0]["metrics"][0]
    assert (metric["delta"], metric["p_value"], metric["status"]) == (0.0, 1.0, "unchanged")


def test_a_significant_drop_fails_with_the_flipped_samples_listed(tmp_path: Path) -> None:
    code, output, verdict = _compare(*_runs(tmp_path, [1] * 45 + [0] * 55), "--markdown", str(tmp_path / "pr.md"))
    assert code == 1, output
    assert not verdict["passed"]
    metric = verdict["comparisons"][0]["metrics"][0]
    assert metric["status"] == "regressed" and metric["delta"] == -15.0
    assert metric["ci_high"] < 0
    assert metric["flips"]["worse"] == [f"s{i}" for i in range(45, 60)]
    summary = (tmp_path / "pr.md").read_text()
    assert summary.startswith("### diffa-eval compare: `ckpt-2000` vs baseline `ckpt-1000`")
    assert "❌ **regression**" in summary and "| mmau_test_mini | accuracy ↑ | 60.00 | 45.00 | -15.00 [" in summary
    assert "- worse: `s45`, `s46`" in summary and "and 0 more" not in summary


def test_a_drop_within_the_tolerance_or_without_significance_passes(tmp_path: Path) -> None:
    base, cand = _runs(tmp_path, [1] * 45 + [0] * 55)
    assert _compare(base, cand, "--max-drop", "20")[0] == 0
    assert _compare(base, cand, "--max-drop-for", "accuracy=16")[0] == 0
    assert _compare(base, cand, "--alpha", "0.00001")[0] == 0
    single_flip = tmp_path / "one"
    assert _compare(*_runs(single_flip, [1] * 59 + [0] * 41), "--max-drop", "0")[0] == 0


def test_lower_wer_is_better_and_a_per_metric_tolerance_applies(tmp_path: Path) -> None:
    base, cand = _runs(tmp_path, list(BASELINE), wer=[(3, 20)] * 40)
    code, output, verdict = _compare(base, cand)
    assert code == 1, output
    wer = verdict["comparisons"][0]["metrics"][0]
    assert verdict["comparisons"][0]["task"] == "librispeech_test_clean"
    assert (wer["baseline"], wer["candidate"], wer["status"]) == (5.0, 15.0, "regressed")
    assert _compare(base, cand, "--max-drop-for", "librispeech_test_clean:wer=12")[0] == 0
    improved = _compare(*_runs(tmp_path / "better", list(BASELINE), wer=[(0, 20)] * 40))
    assert improved[0] == 0 and improved[2]["comparisons"][0]["metrics"][0]["status"] == "improved"


def test_only_samples_scored_in_both_runs_are_compared(tmp_path: Path) -> None:
    base, cand = tmp_path / "b", tmp_path / "c"
    write_run(base, "a", "mmau_test_mini", {"accuracy": 60.0}, records=accuracy_records(BASELINE))
    write_run(cand, "b", "mmau_test_mini", {"accuracy": 60.0}, records=accuracy_records(BASELINE[:90]))
    write_run(cand, "b", "mmar", {"accuracy": 60.0}, records=accuracy_records(BASELINE))
    verdict = compare(find_runs([base]), find_runs([cand]), Tolerance())
    comparison = verdict.comparisons[0]
    assert (comparison.n_paired, comparison.only_baseline, comparison.only_candidate) == (90, 10, 0)
    assert verdict.unmatched == ("mmar (test)",)


def test_runs_of_different_tasks_cannot_be_compared(tmp_path: Path) -> None:
    write_run(tmp_path / "b", "a", "mmau_test_mini", {"accuracy": 60.0}, records=accuracy_records(BASELINE))
    write_run(tmp_path / "c", "b", "mmar", {"accuracy": 60.0}, records=accuracy_records(BASELINE))
    result = runner.invoke(app, ["compare", str(tmp_path / "b"), str(tmp_path / "c")])
    assert result.exit_code != 0 and "no completed run of the same task and split" in str(result.exception)


def test_a_side_holding_several_models_is_refused_rather_than_guessed(tmp_path: Path) -> None:
    base, cand = _runs(tmp_path, BASELINE)
    write_run(base, "other-model", "mmau_test_mini", {"accuracy": 10.0}, records=accuracy_records(BASELINE))
    result = runner.invoke(app, ["compare", str(base), str(cand)])
    assert result.exit_code != 0
    assert "baseline runs are of several models (ckpt-1000, other-model)" in str(result.exception)


def _failed_records(ids: range, prefix: str = "s") -> list[SampleRecord]:
    return [SampleRecord(key=f"k{i}", sample_id=f"{prefix}{i}", error="audio file is empty", error_stage="audio")
            for i in ids]  # fmt: skip


def test_a_candidate_that_fails_most_samples_fails_the_gate_as_real_runs(tmp_path: Path) -> None:
    """Real runs: the candidate's data has 90 of 100 audio files empty, so 90 samples fail."""

    def dataset(root: Path, empty: int) -> Path:
        folder = root / "MMAU"
        items = []
        for n in range(100):
            clip = folder / "test-mini-audios" / f"i{n}.wav"
            write_audio(clip, seconds=0.1)
            if n < empty:
                clip.write_bytes(b"")
            items.append({"id": f"i{n}", "audio_id": f"./test-mini-audios/i{n}.wav", "question": "Which?",
                          "choices": ["yes", "no"], "answer": "yes", "task": "sound"})  # fmt: skip
        (folder / "mmau-test-mini.json").write_text(json.dumps(items))
        return root

    def diffa_eval(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "diffa_eval", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=300)

    for side, empty in (("baseline", 0), ("candidate", 90)):
        data = dataset(tmp_path / f"data-{side}", empty)
        diffa_eval("run", "-m", "oracle", "-t", "mmau_test_mini", "--data-dir", str(data), "--max-failures", "1",
                   "--output-dir", str(tmp_path / side), "-q")  # fmt: skip
    done = diffa_eval("compare", str(tmp_path / "baseline"), str(tmp_path / "candidate"), "--json",
                      str(tmp_path / "verdict.json"))  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "❌ **regression**" in done.stdout
    assert "Failed samples count against their run: as wrong answers" in done.stdout
    assert "| mmau_test_mini | accuracy ↑ | 100.00 | 10.00 | -90.00 [" in done.stdout
    assert "| mmau_test_mini | failed samples % ↓ | 0.00 | 90.00 | +90.00 |" in done.stdout
    comparison = json.loads((tmp_path / "verdict.json").read_text())["comparisons"][0]
    assert comparison["n_paired"] == 100
    assert comparison["failures"] == {
        "baseline": 0, "candidate": 90, "baseline_rate": 0.0, "candidate_rate": 90.0, "regressed": True
    }  # fmt: skip
    assert comparison["metrics"][0]["flips"]["worse"] == [f"i{n}" for n in range(90)]


def test_failed_utterances_count_as_every_word_deleted_for_wer(tmp_path: Path) -> None:
    base, cand = tmp_path / "b", tmp_path / "c"
    write_run(base, "a", "librispeech_test_clean", {"wer": 5.0}, records=wer_records([(1, 20)] * 40))
    failing = wer_records([(1, 20)] * 38) + _failed_records(range(38, 40), prefix="u")
    write_run(cand, "b", "librispeech_test_clean", {"wer": 5.0}, records=failing)
    verdict = compare(find_runs([base]), find_runs([cand]), Tolerance(max_drop=100.0, max_failure_increase=100.0))
    (wer,) = verdict.comparisons[0].metrics
    assert (wer.n, wer.baseline, wer.candidate) == (40, 5.0, 100.0 * (38 + 2 * 20) / 800)
    assert verdict.comparisons[0].candidate_failed == 2


def test_judge_ratings_leave_failures_out_and_the_failure_rate_decides(tmp_path: Path) -> None:
    def rated(n: int) -> list[SampleRecord]:
        return [SampleRecord(key=f"k{i}", sample_id=f"s{i}", output="x", score=4.0) for i in range(n)]

    base, cand = tmp_path / "b", tmp_path / "c"
    write_run(base, "a", "voicebench_alpacaeval", {"gpt_score": 4.0}, records=rated(50))
    write_run(
        cand, "b", "voicebench_alpacaeval", {"gpt_score": 4.0}, records=rated(45) + _failed_records(range(45, 50))
    )
    code, output, verdict = _compare(base, cand)
    assert code == 1, output
    comparison = verdict["comparisons"][0]
    assert comparison["metrics"][0]["n"] == 45 and comparison["metrics"][0]["status"] == "unchanged"
    assert comparison["failures"]["regressed"] and comparison["failures"]["candidate_rate"] == 10.0
    assert _compare(base, cand, "--max-failure-increase", "10")[0] == 0


def test_samples_failed_in_the_baseline_count_against_the_baseline(tmp_path: Path) -> None:
    base, cand = tmp_path / "b", tmp_path / "c"
    write_run(
        base,
        "a",
        "mmau_test_mini",
        {"accuracy": 50.0},
        records=accuracy_records([1] * 50) + _failed_records(range(50, 100)),
    )
    write_run(cand, "b", "mmau_test_mini", {"accuracy": 100.0}, records=accuracy_records([1] * 100))
    code, output, verdict = _compare(base, cand)
    assert code == 0, output
    metric = verdict["comparisons"][0]["metrics"][0]
    assert (metric["baseline"], metric["candidate"], metric["status"]) == (50.0, 100.0, "improved")
