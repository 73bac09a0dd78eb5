"""The HTML report: one self-contained page with the leaderboard (sortable, its header and model column in view
while it scrolls inside the page), a grid of titled plots and a per-run sample browser, checked as a reader's
headless Chromium lays it out at 1400 and 800 pixels wide."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from typer.testing import CliRunner

from diffa_eval.cli import app
from diffa_eval.report.plots import report_figures
from diffa_eval.report.samples import sample_browser_data
from diffa_eval.report.tables import build_table, to_html
from diffa_eval.run.execute import local_audio_path
from diffa_eval.run.plan import PreparedSample
from diffa_eval.store import find_runs
from diffa_eval.types import AudioRef, Sample

from .browser import Browser, chromium
from .stored_runs import SUITE_MODELS, SUITE_TASKS, suite_runs

runner = CliRunner()


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return suite_runs(tmp_path_factory.mktemp("suite"))


@pytest.fixture(scope="module")
def page(suite: Path) -> Path:
    """The sample suite's report with cost, intervals, plots and samples, as `table -f html` writes it."""
    path = suite.parent / "report.html"
    args = ["table", str(suite), "-f", "html", "--cost", "--ci", "--plots", "-o", str(path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return path


def _data(page: Path) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="sample-data">(.*?)</script>', page.read_text(), re.S)
    assert found is not None
    return dict(json.loads(found.group(1)))


def test_the_page_loads_nothing_from_elsewhere(page: Path) -> None:
    text = page.read_text()
    assert "<link" not in text and "@import" not in text and "<script src" not in text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text) and "url(http" not in text
    assert text.count("<script") == 2  # the sample data and the page's own script, both inline


def test_every_sample_of_each_run_behind_the_table_is_in_the_browser_with_its_status(page: Path) -> None:
    data = _data(page)
    assert len(data["runs"]) == len(SUITE_MODELS) * len(SUITE_TASKS)
    by_run = {(run["row"], run["task"]): run for run in data["runs"]}
    mmau = by_run[("diffa-tiny · threshold+dual-cache τ=0.9", "MMAU test-mini (sample)")]
    assert [sample["s"] for sample in mmau["samples"]] == ["correct", "wrong", "failed", "pending", "excluded", "wrong"]
    assert mmau["counts"] == {"correct": 1, "wrong": 2, "failed": 1, "pending": 1, "excluded": 1}
    first = mmau["samples"][0]
    assert data["strings"][first["p"]].startswith("Question 0 of mmau_test_mini")
    assert (first["o"], first["x"], data["strings"][first["r"]], first["v"]) == ("A", "A", "A", 1.0)
    assert first["g"] == {"task": "sound"} and "out of memory" in mmau["samples"][2]["n"]
    clean = by_run[("oracle", "LibriSpeech WER (sample) · clean")]  # a right transcript has no word errors
    assert [sample["s"] for sample in clean["samples"]][:2] == ["correct", "wrong"]
    judged = by_run[("qwen2-audio-tiny", "VoiceBench (sample) · alpacaeval")]  # 1-5 ratings: neither right nor wrong
    assert judged["samples"][0]["s"] == "scored" and judged["samples"][0]["v"] == 4.0


def test_texts_that_repeat_across_runs_are_stored_once(page: Path) -> None:
    strings = _data(page)["strings"]
    assert len(strings) == len(set(strings))
    assert sum(text.startswith("Question 0 of mmau_test_mini") for text in strings) == 1


def test_audio_files_are_linked_and_never_copied_into_the_page(page: Path, suite: Path) -> None:
    clip = (suite.parent / "audio" / "clip.wav").resolve()
    assert "audio/clip.wav" in _data(page)["strings"]  # relative to the page's folder
    assert "data:audio" not in page.read_text() and page.stat().st_size < clip.stat().st_size + 3_000_000


def test_a_report_moved_together_with_its_audio_still_finds_it(page: Path, suite: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared copy"  # a folder name that needs escaping in a link
    (shared / "audio").mkdir(parents=True)
    shutil.copy(suite.parent / "audio" / "clip.wav", shared / "audio" / "clip.wav")
    shutil.copy(page, shared / "report.html")
    links = [text for text in _data(shared / "report.html")["strings"] if text.endswith(".wav")]
    assert links and all((shared / unquote(link)).is_file() for link in links)


def test_a_report_printed_to_standard_output_links_audio_by_absolute_file_uri(suite: Path) -> None:
    printed = runner.invoke(app, ["table", str(suite), "-f", "html"])
    assert printed.exit_code == 0, printed.output
    found = re.search(r'<script type="application/json" id="sample-data">(.*?)</script>', printed.output, re.S)
    assert found is not None
    clip = (suite.parent / "audio" / "clip.wav").resolve()
    assert clip.as_uri() in json.loads(found.group(1))["strings"]


def test_a_model_output_cannot_end_the_pages_script(tmp_path: Path) -> None:
    from diffa_eval.store import SampleRecord

    from .stored_runs import write_run_v2

    hostile = "</script><script>document.title='owned'</script><!--"
    records = [SampleRecord(key="k", sample_id="s", prompt="p", output=hostile, score=0.0)]
    write_run_v2(tmp_path, "m", "mmau_test_mini", {"accuracy": 0.0}, records=records)
    runs = find_runs([tmp_path])
    table = build_table(runs)
    text = to_html(table, samples=sample_browser_data(table, runs))
    assert hostile not in text and "</script><script>document" not in text
    assert _data(_write(tmp_path / "page.html", text))["runs"][0]["samples"][0]["o"] == hostile


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_record_keeps_the_audio_file_it_was_read_from_only_when_it_is_on_disk(tmp_path: Path) -> None:
    clip = tmp_path / "clip.wav"
    clip.write_bytes(b"RIFF")

    def prepared(audio: AudioRef) -> PreparedSample:
        return PreparedSample(Sample("s", audio, None), "k", None, None, "", (), None, {}, "")

    assert local_audio_path(prepared(AudioRef(path=str(clip)))) == str(clip.resolve())
    assert local_audio_path(prepared(AudioRef(path="clip.wav", data=b"RIFF"))) is None  # bytes a dataset held
    assert local_audio_path(prepared(AudioRef(path=str(tmp_path / "gone.wav")))) is None


def test_a_run_on_the_bundled_samples_links_their_audio_files(tmp_path: Path) -> None:
    args = ["run", "-m", "chance", "-t", "mmau_test_mini", "--split", "sample", "--output-dir", str(tmp_path), "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    (run,) = find_runs([tmp_path])
    paths = [record.audio_path for record in run.records()]
    assert paths and all(path is not None and Path(path).is_absolute() and Path(path).is_file() for path in paths)


def test_the_plots_come_as_a_titled_grid_per_benchmark_whose_svg_ids_never_clash(suite: Path) -> None:
    runs = find_runs([suite])
    sections = report_figures(runs)
    assert [s.title for s in sections] == [
        "MMAU test-mini (sample)", "MMSU (sample)", "MMAR (sample)", "VoiceBench (sample)", "LibriSpeech WER (sample)",
    ]  # fmt: skip
    assert [p.title for p in sections[0].plots] == [
        "avg: quality vs speed", "avg: quality vs forward passes", "by category",
    ]  # fmt: skip
    assert [p.title for p in sections[3].plots] == ["overall: quality vs speed", "overall: quality vs forward passes"]
    text = to_html(build_table(runs), figures=sections)
    ids = re.findall(r'\sid="([^"]+)"', text)
    assert len(ids) == len(set(ids))
    assert text.count('<div class="plot-grid">') == 5 and text.count("<figcaption>") == 15


def _check_layout(browser: Browser, width: int) -> dict[str, Any]:
    """Measures of the page as laid out: page and table widths, sticky parts after scrolling, one-line names."""
    result: dict[str, Any] = browser.evaluate(
        """(() => {
          const page = document.documentElement, frame = document.querySelector('.table-scroll');
          const out = {page: [page.scrollWidth, page.clientWidth], table: [frame.scrollWidth, frame.clientWidth]};
          out.wider = [...document.querySelectorAll('body *')].filter(e => !frame.contains(e)
            && e.getBoundingClientRect().right > page.clientWidth + 0.5).map(e => e.tagName + '.' + e.className);
          out.nameLines = [...document.querySelectorAll('#leaderboard .model')].map(e => e.getClientRects().length);
          frame.scrollIntoView();
          frame.style.maxHeight = '160px';  // as a table of many rows: it scrolls down inside its frame too
          frame.scrollLeft = frame.scrollWidth; frame.scrollTop = 60;
          const box = frame.getBoundingClientRect();
          const name = document.querySelector('#leaderboard tbody tr:last-child td:first-child')
            .getBoundingClientRect();
          const head = document.querySelector('#leaderboard thead').getBoundingClientRect();
          out.scrolled = [frame.scrollLeft > 0, frame.scrollTop > 0];
          out.nameLeft = name.left - box.left; out.headTop = head.top - box.top;
          frame.scrollLeft = 0; frame.scrollTop = 0; frame.style.maxHeight = ''; window.scrollTo(0, 0);
          return out;
        })()"""
    )
    return result


def _click_sort(browser: Browser, label: str) -> list[str]:
    """Click the sub-header `label` of the first group that has it; the rows' names after sorting."""
    names: list[str] = browser.evaluate(
        f"""(() => {{
          const head = [...document.querySelectorAll('#leaderboard th[data-col] button')]
            .find(b => b.textContent.trim() === {json.dumps(label)});
          head.click();
          return [...document.querySelectorAll('#leaderboard tbody tr')]
            .map(r => r.cells[0].innerText.replace('\\n', ' · '));
        }})()"""
    )
    return names


def _browse(browser: Browser, run: str, status: str) -> dict[str, Any]:
    """Pick a run and a status filter in the sample browser, open the first sample; what it then shows."""
    shown: dict[str, Any] = browser.evaluate(
        f"""(() => {{
          const root = document.getElementById('sample-browser'), select = root.querySelector('select.run');
          select.value = String([...select.options].findIndex(o => o.text.startsWith({json.dumps(run)})));
          select.dispatchEvent(new Event('change'));
          [...root.querySelectorAll('.status-filter button')]
            .find(b => b.textContent.startsWith({json.dumps(status)})).click();
          const items = root.querySelectorAll('.sample-list details');
          items[0].open = true;
          items[0].dispatchEvent(new Event('toggle'));
          const audio = items[0].querySelector('audio');
          return {{count: items.length,
                  badges: [...root.querySelectorAll('.sample-list .badge')].map(b => b.textContent),
                  fields: [...items[0].querySelectorAll('dt')].map(d => d.textContent),
                  audio: audio && [audio.getAttribute('preload'), audio.src],
                  summary: root.querySelector('.summary').textContent}};
        }})()"""
    )
    return shown


@pytest.mark.slow
@pytest.mark.skipif(chromium() is None, reason="no Chromium")
def test_the_report_in_chromium_at_1400_and_800_pixels(page: Path, tmp_path: Path) -> None:
    profile = tmp_path / "profile"
    profile.mkdir()
    browser = Browser(chromium() or "", profile)
    try:
        for width in (1400, 800):
            browser.open(page.as_uri(), width)
            layout = _check_layout(browser, width)
            assert layout["page"][0] <= layout["page"][1] == width, layout["wider"]  # no page-wide sideways scroll
            assert layout["wider"] == []
            assert layout["table"][0] > layout["table"][1]  # the table scrolls inside its frame
            assert layout["scrolled"] == [True, True]
            assert abs(layout["nameLeft"]) <= 1.5 and abs(layout["headTop"]) <= 1.5  # model column and header stay
            assert set(layout["nameLines"]) == {1}  # a model's name never breaks
            browser.screenshot(tmp_path / f"report-{width}.png")
            browser.screenshot(tmp_path / f"report-{width}-top.png", full_page=False)
            assert (tmp_path / f"report-{width}.png").read_bytes().startswith(b"\x89PNG")
        avg = [name for name in _click_sort(browser, "avg ↑")]  # MMAU test-mini's avg, best first
        assert avg == ["oracle", "diffa-tiny", "qwen2-audio-tiny", "diffa-tiny · threshold+dual-cache τ=0.9", "chance"]
        assert _click_sort(browser, "avg ↑") == avg[::-1]
        assert _click_sort(browser, "samples/s")[:2] == ["oracle", "chance"]
        assert _click_sort(browser, "s/sample")[-1] == "diffa-tiny"
        failed = _browse(browser, "diffa-tiny · threshold+dual-cache τ=0.9 — MMAU test-mini", "failed")
        assert failed["count"] == 1 and failed["badges"] == ["failed"] and "note" in failed["fields"]
        shown = _browse(browser, "qwen2-audio-tiny — LibriSpeech WER (sample) · other", "correct")
        assert shown["badges"] == ["correct", "correct"]
        assert shown["fields"] == ["prompt", "output", "extracted answer", "reference", "score", "audio"]
        assert shown["audio"][0] == "none" and shown["audio"][1].startswith("file:///")
        pending = _browse(browser, "chance — VoiceBench (sample) · sd-qa", "pending")
        assert pending["count"] == 1 and "Showing 1–1 of 1 samples" in pending["summary"]
        by_category = browser.evaluate(
            """(() => { const root = document.getElementById('sample-browser');
                 const select = root.querySelector('select.run');
                 select.value = String([...select.options].findIndex(o => o.text.startsWith('oracle — MMAR')));
                 select.dispatchEvent(new Event('change'));
                 root.querySelector('.status-filter button').click();  // all statuses (the filter outlives a run)
                 const category = root.querySelector('select.category');
                 category.value = 'modality\\u0001speech'; category.dispatchEvent(new Event('change'));
                 return root.querySelectorAll('.sample-list li').length; })()"""
        )
        assert by_category == 1  # of six samples, one is labelled speech
        browser.screenshot(tmp_path / "samples-800.png", full_page=False)
    finally:
        browser.close()
