"""PEDANT, the classifier half of VoiceBench's sd-qa score, as qa-metrics 0.2.17 computes it.

VoiceBench's `qa` evaluator counts an answer correct when
`PEDANT().evaluate([reference.lower()], response.lower(), question.lower())` says so, with qa-metrics
pinned at 0.2.17; later versions use more features and score differently (VoiceBench issue #11,
qa_metrics issue #2). The package ships no model: every `PEDANT()` downloads a linear classifier and
its tf-idf vectorizer (3.7 MB of scikit-learn pickles) from the master branch of
github.com/zli12321/qa_metrics into its own install folder, and offline it quietly reuses an earlier
download or fails. Here the two files are fetched once into `$DIFFA_EVAL_CACHE_DIR/pedant` (or copied
from an earlier qa-metrics download) from the qa_metrics commit that put them on master (2024-10-30),
and then loaded from there with no network access.

Unpickling runs whatever code the file names, so a file is trusted only by its content: each is
checked against its pinned sha256 before it is stored and again, on the very bytes that are then
unpickled, before it is loaded. A file with another hash is an error, never loaded.

Install with `pip install 'diffa-eval[judge]'`: qa-metrics 0.2.17 pins scikit-learn 1.3.2, which
needs numpy<2 and Python <= 3.12.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import io
import logging
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cache import CACHE_DIR_ENV, cache_root
from ..errors import DataError, MissingDependencyError
from ..files import atomic_write_bytes

log = logging.getLogger(__name__)

PEDANT_VERSION = "0.2.17"
PEDANT_REQUIREMENT = f"qa-metrics=={PEDANT_VERSION}"
PEDANT_EXTRA = "judge"
DOWNLOAD_TIMEOUT_S = 60.0
MAX_MODEL_FILE_BYTES = 16 * 1024 * 1024
"""A download larger than this is refused unread (the two files are 0.75 MB and 3.0 MB)."""

PEDANT_MODEL_COMMIT = "1c19479d2671c3b154bc9fc75ab841862377b421"
"""The qa_metrics commit (2024-10-30) that put today's files on master, where qa-metrics 0.2.17 fetches them."""
_PINNED = f"https://raw.githubusercontent.com/zli12321/qa_metrics/{PEDANT_MODEL_COMMIT}/qa_metrics/classifier/"


@dataclass(frozen=True)
class PedantModelFile:
    """One of the two files qa-metrics 0.2.17 downloads for PEDANT."""

    name: str
    """The file name qa-metrics loads it under."""
    url: str
    """The file at `PEDANT_MODEL_COMMIT`, not on a branch, so what is served cannot change."""
    sha256: str
    """The file at `PEDANT_MODEL_COMMIT`, which 0.2.17 has fetched from master since 2024-10-30."""


PEDANT_MODEL_FILES = (
    PedantModelFile(
        "lr_classifier.pkl",
        _PINNED + "lr_classifier",
        "9c3dd5998745ece1cfb6cb16b953358f794e8716d63a08f3b212d8bc32a59b8b",
    ),
    PedantModelFile(
        "tf-idf_vectorizer.pkl",
        _PINNED + "tf-idf_vectorizer",
        "e886c9ba3ddb15a4b693b075dfe19cfad36dc74e7f8f195b8d9e98e989f2ba4f",
    ),
)


class PedantModelMismatch(DataError):
    """A PEDANT model file whose content is not the pinned one; it is never unpickled."""


_loaded: dict[Path, Any] = {}
_loading = threading.Lock()


def pedant_model_dir() -> Path:
    """$DIFFA_EVAL_CACHE_DIR/pedant, else ~/.cache/diffa-eval/pedant."""
    return cache_root() / "pedant"


def pedant_correct(reference: str, response: str, question: str) -> bool:
    """Whether PEDANT judges `response` a correct answer to `question`, lowercasing all three as VoiceBench does.

    The first call loads the model (downloading it once if it is not cached yet); raises
    MissingDependencyError without qa-metrics 0.2.17 and DataError when the model cannot be fetched.
    """
    pedant = load_pedant()
    return bool(pedant.evaluate([reference.lower()], response.lower(), question.lower()))


def load_pedant(directory: Path | None = None, *, download: bool = True) -> Any:
    """qa-metrics' PEDANT with its model loaded from `directory` (default `pedant_model_dir()`), once per folder.

    qa-metrics' own constructor would download the model from master again on every call, so the
    instance is made without it and given the two cached files, which is all that constructor sets up.
    Raises PedantModelMismatch, before anything is unpickled, when a file is not the pinned one.
    """
    folder = directory if directory is not None else pedant_model_dir()
    with _loading:
        pedant = _loaded.get(folder)
        if pedant is None:
            pedant_class = _pedant_class()
            ensure_pedant_model(folder, download=download)
            # Each file is read once, and the bytes that were checked are the bytes unpickled: the file
            # cannot be swapped between the check and the load.
            verified = {file.name: _verified_bytes(folder / file.name, file) for file in PEDANT_MODEL_FILES}
            joblib = importlib.import_module("joblib")
            pedant = pedant_class.__new__(pedant_class)
            pedant.model = joblib.load(io.BytesIO(verified["lr_classifier.pkl"]))
            pedant.tokenizer = joblib.load(io.BytesIO(verified["tf-idf_vectorizer.pkl"]))
            _loaded[folder] = pedant
            log.info("PEDANT (%s) loaded from %s", PEDANT_REQUIREMENT, folder)
    return pedant


def ensure_pedant_model(directory: Path | None = None, *, download: bool = True) -> Path:
    """The folder holding PEDANT's two model files, fetching any that is missing.

    A missing file is copied from an earlier download by qa-metrics itself when that one has the
    pinned hash, else downloaded from the pinned commit (unless `download` is False); a download
    with another hash is refused and not stored. Raises DataError naming the URLs and the paths to
    put the files at when they cannot be had (PedantModelMismatch for a download that is not the
    pinned file). Files already in the folder are checked when they are loaded.
    """
    folder = directory if directory is not None else pedant_model_dir()
    problems = []
    for file in PEDANT_MODEL_FILES:
        target = folder / file.name
        if target.is_file():
            continue
        earlier = _earlier_qa_metrics_download(file)
        try:
            if earlier is not None:
                folder.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(target, earlier)
                log.info("copied PEDANT's %s from qa-metrics' own download", file.name)
            elif download:
                folder.mkdir(parents=True, exist_ok=True)
                log.info("downloading PEDANT's %s from %s", file.name, file.url)
                content = _download(file)
                _check(content, file, f"the download from {file.url}", "it was not stored")
                atomic_write_bytes(target, content)
            else:
                problems.append(f"{file.name} is not in {folder} and downloading is off")
        except OSError as error:
            problems.append(f"cannot fetch {file.url}: {error}")
    if problems:
        raise DataError(_missing_model_message(folder, problems))
    return folder


def _download(file: PedantModelFile) -> bytes:
    with urllib.request.urlopen(file.url, timeout=DOWNLOAD_TIMEOUT_S) as response:
        content: bytes = response.read(MAX_MODEL_FILE_BYTES + 1)
    if len(content) > MAX_MODEL_FILE_BYTES:
        raise PedantModelMismatch(
            f"the download from {file.url} is larger than {MAX_MODEL_FILE_BYTES} bytes, so it is not "
            f"PEDANT's {file.name} (sha256 {file.sha256}); nothing was stored"
        )
    return content


def _check(content: bytes, file: PedantModelFile, what: str, outcome: str) -> None:
    """Raise PedantModelMismatch, naming both hashes, unless `content` is the pinned file."""
    actual = hashlib.sha256(content).hexdigest()
    if actual != file.sha256:
        raise PedantModelMismatch(
            f"{what} has sha256 {actual}, not the sha256 {file.sha256} of PEDANT's {file.name} "
            f"({PEDANT_REQUIREMENT}); {outcome} (unpickling a file runs code it names)"
        )


def _verified_bytes(path: Path, file: PedantModelFile) -> bytes:
    try:
        content = path.read_bytes()
    except OSError as error:
        raise DataError(f"cannot read PEDANT's {file.name} at {path}: {error}") from error
    _check(content, file, str(path), f"it was not loaded: delete it to download the pinned file from {file.url}")
    return content


def _missing_model_message(folder: Path, problems: list[str]) -> str:
    steps = "; ".join(f"{file.url} saved as {folder / file.name}" for file in PEDANT_MODEL_FILES)
    return (
        f"PEDANT ({PEDANT_REQUIREMENT}) needs two model files that the package does not ship and downloads "
        f"at run time ({'; '.join(problems)}). Download them once on a machine with internet access: {steps} "
        f"(or set {CACHE_DIR_ENV} to a folder whose pedant/ subfolder holds them)."
    )


def _pedant_class() -> Any:
    try:
        module = importlib.import_module("qa_metrics.pedant")
    except ImportError as error:
        if error.name is None:
            package = f"a working {PEDANT_REQUIREMENT} ({error})"
        elif error.name.split(".")[0] == "qa_metrics":
            package = PEDANT_REQUIREMENT
        else:
            package = f"{error.name} (needed by {PEDANT_REQUIREMENT})"
        raise MissingDependencyError(package, PEDANT_EXTRA) from error
    try:
        version = importlib.metadata.version("qa-metrics")
    except importlib.metadata.PackageNotFoundError:
        version = "of unknown version"
    if version != PEDANT_VERSION:
        raise MissingDependencyError(
            f"{PEDANT_REQUIREMENT} (found qa-metrics {version}, which scores sd-qa differently)", PEDANT_EXTRA
        )
    return module.PEDANT


def _earlier_qa_metrics_download(file: PedantModelFile) -> bytes | None:
    """The file from qa-metrics' own classifier folder, where its PEDANT() downloads it, if it is the pinned one."""
    try:
        spec = importlib.util.find_spec("qa_metrics")
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        candidate = Path(location) / "classifier" / file.name
        try:
            content = candidate.read_bytes() if candidate.is_file() else b""
        except OSError:
            continue
        if not content:
            continue
        if hashlib.sha256(content).hexdigest() == file.sha256:
            return content
        log.warning("not reusing %s: it is not the pinned %s (sha256 %s)", candidate, file.name, file.sha256)
    return None
