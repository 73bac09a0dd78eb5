"""PEDANT (qa-metrics 0.2.17) for VoiceBench sd-qa: a lazy, pinned, offline-after-first-use wrapper.

Nothing here touches the network: downloads are pointed at a closed port on 127.0.0.1, and the known
cases run only where qa-metrics 0.2.17 is installed and its model files are already cached.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import socket
import sys
import types
from pathlib import Path

import pytest

from diffa_eval.errors import DataError, MissingDependencyError
from diffa_eval.scoring import pedant
from diffa_eval.scoring.pedant import (
    PEDANT_MODEL_FILES,
    ensure_pedant_model,
    load_pedant,
    pedant_correct,
    pedant_model_dir,
)


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


def test_an_earlier_download_by_qa_metrics_itself_is_reused(
    monkeypatch: pytest.MonkeyPatch, unreachable_model_urls: str, tmp_path: Path
) -> None:
    package = tmp_path / "site" / "qa_metrics"
    (package / "classifier").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for file in PEDANT_MODEL_FILES:
        (package / "classifier" / file.name).write_bytes(file.name.encode())
    monkeypatch.delitem(sys.modules, "qa_metrics", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    cache = tmp_path / "cache"
    ensure_pedant_model(cache, download=False)
    assert sorted(path.name for path in cache.iterdir()) == sorted(file.name for file in PEDANT_MODEL_FILES)
    assert (cache / "lr_classifier.pkl").read_bytes() == b"lr_classifier.pkl"


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
