"""PEDANT (qa-metrics 0.2.17) for VoiceBench sd-qa: a lazy, pinned, offline-after-first-use wrapper.

Nothing here touches the network: downloads are pointed at a closed port or a file server on
127.0.0.1, and the known cases run only where qa-metrics 0.2.17 is installed and its model files are
already cached.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import importlib.metadata
import pickle
import re
import socket
import sys
import threading
import types
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from diffa_eval.errors import DataError, MissingDependencyError
from diffa_eval.run import RunOptions, evaluate
from diffa_eval.scoring import pedant
from diffa_eval.scoring.pedant import (
    PEDANT_MODEL_COMMIT,
    PEDANT_MODEL_FILES,
    PedantModelMismatch,
    ensure_pedant_model,
    load_pedant,
    pedant_correct,
    pedant_model_dir,
)
from diffa_eval.store import read_run
from diffa_eval.task import TASKS
from diffa_eval.types import ModelSpec

from .chat_server import answer, running


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/classifier/"


@pytest.fixture
def unreachable_model_urls(monkeypatch: pytest.MonkeyPatch) -> str:
    base = _closed_port_url()
    files = tuple(dataclasses.replace(file, url=base + file.name) for file in PEDANT_MODEL_FILES)
    monkeypatch.setattr(pedant, "PEDANT_MODEL_FILES", files)
    return base


@pytest.fixture
def qa_metrics_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "qa_metrics", None)
    monkeypatch.setitem(sys.modules, "qa_metrics.pedant", None)


def test_the_model_cache_is_under_diffa_eval_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DIFFA_EVAL_CACHE_DIR", str(tmp_path))
    assert pedant_model_dir() == tmp_path / "pedant"


def test_without_qa_metrics_the_error_names_the_pinned_requirement_and_the_extra(
    qa_metrics_absent: None, tmp_path: Path
) -> None:
    with pytest.raises(MissingDependencyError) as raised:
        load_pedant(tmp_path, download=False)
    assert "qa-metrics==0.2.17" in str(raised.value)
    assert "pip install 'diffa-eval[judge]'" in str(raised.value)


def test_another_qa_metrics_version_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = types.ModuleType("qa_metrics.pedant")
    fake.PEDANT = type("PEDANT", (), {})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "qa_metrics", types.ModuleType("qa_metrics"))
    monkeypatch.setitem(sys.modules, "qa_metrics.pedant", fake)
    real_version = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata, "version", lambda name: "0.2.30" if name == "qa-metrics" else real_version(name)
    )
    with pytest.raises(MissingDependencyError, match=r"qa-metrics==0\.2\.17 \(found qa-metrics 0\.2\.30"):
        load_pedant(tmp_path, download=False)


def test_model_files_that_cannot_be_fetched_raise_an_error_saying_what_to_download_and_where(
    qa_metrics_absent: None, unreachable_model_urls: str, tmp_path: Path
) -> None:
    with pytest.raises(DataError) as raised:
        ensure_pedant_model(tmp_path)
    message = str(raised.value)
    for file in pedant.PEDANT_MODEL_FILES:
        assert file.url in message
        assert str(tmp_path / file.name) in message
    assert "DIFFA_EVAL_CACHE_DIR" in message
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_with_downloading_off_a_missing_model_is_an_error_not_a_download(
    qa_metrics_absent: None, unreachable_model_urls: str, tmp_path: Path
) -> None:
    with pytest.raises(DataError, match="downloading is off"):
        ensure_pedant_model(tmp_path, download=False)


def test_cached_model_files_are_used_without_any_download(unreachable_model_urls: str, tmp_path: Path) -> None:
    for file in PEDANT_MODEL_FILES:
        (tmp_path / file.name).write_bytes(b"cached")
    assert ensure_pedant_model(tmp_path) == tmp_path


def _pin_to_contents(monkeypatch: pytest.MonkeyPatch, contents: dict[str, bytes]) -> None:
    """Pin the model files to these contents, as if they were the files at the pinned commit."""
    files = tuple(
        dataclasses.replace(file, sha256=hashlib.sha256(contents[file.name]).hexdigest())
        for file in pedant.PEDANT_MODEL_FILES
    )
    monkeypatch.setattr(pedant, "PEDANT_MODEL_FILES", files)


def _earlier_qa_metrics_download(monkeypatch: pytest.MonkeyPatch, site: Path, contents: dict[str, bytes]) -> None:
    package = site / "qa_metrics"
    (package / "classifier").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for name, content in contents.items():
        (package / "classifier" / name).write_bytes(content)
    monkeypatch.delitem(sys.modules, "qa_metrics", raising=False)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()


def test_an_earlier_download_by_qa_metrics_itself_is_reused(
    monkeypatch: pytest.MonkeyPatch, unreachable_model_urls: str, tmp_path: Path
) -> None:
    contents = {file.name: file.name.encode() for file in PEDANT_MODEL_FILES}
    _pin_to_contents(monkeypatch, contents)
    _earlier_qa_metrics_download(monkeypatch, tmp_path / "site", contents)
    cache = tmp_path / "cache"
    ensure_pedant_model(cache, download=False)
    assert sorted(path.name for path in cache.iterdir()) == sorted(file.name for file in PEDANT_MODEL_FILES)
    assert (cache / "lr_classifier.pkl").read_bytes() == b"lr_classifier.pkl"


def test_an_earlier_download_by_qa_metrics_that_is_not_the_pinned_file_is_not_reused(
    monkeypatch: pytest.MonkeyPatch, unreachable_model_urls: str, tmp_path: Path
) -> None:
    contents = {file.name: file.name.encode() for file in PEDANT_MODEL_FILES}
    _pin_to_contents(monkeypatch, contents)
    _earlier_qa_metrics_download(monkeypatch, tmp_path / "site", {"lr_classifier.pkl": b"a newer model"})
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="downloading is off"):
        ensure_pedant_model(cache, download=False)
    assert not (cache / "lr_classifier.pkl").exists()


# ---------------------------------------------------------------------------------------------
# Only the pinned files are ever unpickled


def test_model_files_are_fetched_from_a_pinned_commit_not_a_branch() -> None:
    assert re.fullmatch(r"[0-9a-f]{40}", PEDANT_MODEL_COMMIT)
    for file in PEDANT_MODEL_FILES:
        assert f"/zli12321/qa_metrics/{PEDANT_MODEL_COMMIT}/qa_metrics/classifier/" in file.url
        assert "master" not in file.url and "main" not in file.url
        assert re.fullmatch(r"[0-9a-f]{64}", file.sha256)


class _CreatesAFile:
    """Unpickled, this object opens (and so creates) a file: what a swapped model file could do."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


@pytest.fixture
def qa_metrics_0_2_17(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in for qa-metrics 0.2.17 whose PEDANT calls every answer correct."""
    module = types.ModuleType("qa_metrics.pedant")
    module.PEDANT = type("PEDANT", (), {"evaluate": lambda self, references, response, question: True})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "qa_metrics", types.ModuleType("qa_metrics"))
    monkeypatch.setitem(sys.modules, "qa_metrics.pedant", module)
    real_version = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata, "version", lambda name: "0.2.17" if name == "qa-metrics" else real_version(name)
    )


def _swap_in(folder: Path, marker: Path) -> bytes:
    """Model files in `folder` whose classifier creates `marker` when unpickled; returns that file."""
    folder.mkdir(parents=True, exist_ok=True)
    swapped = pickle.dumps(_CreatesAFile(marker))
    (folder / "lr_classifier.pkl").write_bytes(swapped)
    (folder / "tf-idf_vectorizer.pkl").write_bytes(pickle.dumps({"vocabulary": {}}))
    return swapped


def test_a_swapped_model_file_is_refused_naming_both_hashes_and_never_unpickled(
    qa_metrics_0_2_17: None, tmp_path: Path
) -> None:
    marker = tmp_path / "created-by-unpickling"
    swapped = _swap_in(tmp_path / "pedant", marker)
    with pytest.raises(PedantModelMismatch) as raised:
        load_pedant(tmp_path / "pedant", download=False)
    message = str(raised.value)
    assert hashlib.sha256(swapped).hexdigest() in message
    assert PEDANT_MODEL_FILES[0].sha256 in message
    assert str(tmp_path / "pedant" / "lr_classifier.pkl") in message
    assert not marker.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["pedant"]


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP file server on 127.0.0.1: (its URL, the folder it serves)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", served
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_download_that_is_not_the_pinned_file_is_refused_and_not_stored(
    monkeypatch: pytest.MonkeyPatch, file_server: tuple[str, Path], tmp_path: Path
) -> None:
    url, served = file_server
    _swap_in(served, tmp_path / "created-by-unpickling")
    files = tuple(dataclasses.replace(file, url=url + file.name) for file in PEDANT_MODEL_FILES)
    monkeypatch.setattr(pedant, "PEDANT_MODEL_FILES", files)
    cache = tmp_path / "cache"
    with pytest.raises(PedantModelMismatch) as raised:
        ensure_pedant_model(cache)
    actual = hashlib.sha256((served / "lr_classifier.pkl").read_bytes()).hexdigest()
    assert actual in str(raised.value) and files[0].sha256 in str(raised.value)
    assert url + "lr_classifier.pkl" in str(raised.value)
    assert not any(path.is_file() for path in cache.rglob("*"))


def test_a_pinned_download_is_stored(
    monkeypatch: pytest.MonkeyPatch, file_server: tuple[str, Path], tmp_path: Path
) -> None:
    url, served = file_server
    contents = {file.name: f"the pinned {file.name}".encode() for file in PEDANT_MODEL_FILES}
    for name, content in contents.items():
        (served / name).write_bytes(content)
    _pin_to_contents(monkeypatch, contents)
    files = tuple(dataclasses.replace(file, url=url + file.name) for file in pedant.PEDANT_MODEL_FILES)
    monkeypatch.setattr(pedant, "PEDANT_MODEL_FILES", files)
    cache = tmp_path / "cache"
    ensure_pedant_model(cache)
    assert {path.name: path.read_bytes() for path in cache.iterdir()} == contents


def test_an_sd_qa_run_with_a_swapped_pedant_file_fails_its_samples_and_runs_no_code_from_it(
    qa_metrics_0_2_17: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("DIFFA_EVAL_JUDGE_API_KEY", "OPENAI_API_KEY", "DIFFA_EVAL_JUDGE_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DIFFA_EVAL_CACHE_DIR", str(tmp_path / "cache"))
    marker = tmp_path / "created-by-unpickling"
    swapped = _swap_in(tmp_path / "cache" / "pedant", marker)
    with running(lambda request: answer("Yes", "Yes", "Yes")) as judge:
        monkeypatch.setenv("DIFFA_EVAL_JUDGE_BASE_URL", judge.url)
        (outcome,) = evaluate(
            [ModelSpec("chance")], [TASKS.get("voicebench_sd_qa")], RunOptions(split="sample", output_dir=tmp_path)
        )
    assert not marker.exists()
    assert outcome.metrics is not None and outcome.run_dir is not None
    assert outcome.metrics.n_failed == outcome.metrics.n_samples > 0 and outcome.failed_fraction == 1.0
    for record in read_run(outcome.run_dir).records():
        assert record.error_stage == "scoring" and record.pending is None
        assert hashlib.sha256(swapped).hexdigest() in (record.error or "")


# ---------------------------------------------------------------------------------------------
# Known cases, where qa-metrics 0.2.17 and its cached model can run offline


@pytest.fixture
def offline_pedant() -> None:
    try:
        load_pedant(download=False)
    except (MissingDependencyError, DataError) as error:
        pytest.skip(f"PEDANT cannot run offline here: {error}")


@pytest.mark.parametrize(
    ("reference", "response", "question", "correct"),
    [
        ("Paris", "The capital of France is PARIS.", "What is the capital of France?", True),
        ("the Pacific Ocean", "Pacific.", "What is the largest ocean?", True),
        ("Paris", "I think it is London.", "What is the capital of France?", False),
        ("1945", "It ended in 1944.", "When did World War II end?", False),
        ("Mount Everest", "The tallest mountain is K2.", "What is the tallest mountain in the world?", False),
    ],
)
def test_pedant_known_cases(offline_pedant: None, reference: str, response: str, question: str, correct: bool) -> None:
    assert pedant_correct(reference, response, question) is correct
