"""Where task data comes from: hub datasets at a resolved commit, local files identified by hash.

Tasks call these helpers so that every run records exactly which data it read: the hub
commit sha, or the git blob sha of a local metadata file (the same id `git hash-object`
prints, so it can be compared with the benchmark repository's history).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import DataError
from .types import AudioRef

log = logging.getLogger(__name__)


def git_blob_sha(content: bytes) -> str:
    """The git object id of a file with this content (`git hash-object FILE`)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def parse_json_records(text: str, source: str) -> tuple[list[dict[str, Any] | None], list[str]]:
    """Records of a JSON list or of JSONL text, with one problem per unreadable record.

    An unreadable JSONL line or a list item that is not an object becomes None in the list
    and a message in the problems; text that is neither JSON nor JSONL raises DataError.
    """
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataError(f"{source} is not valid JSON: {error}") from None
        numbered = [(f"item {i}", item) for i, item in enumerate(items)]
    else:
        numbered = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                numbered.append((f"line {number}", json.loads(line)))
            except json.JSONDecodeError as error:
                numbered.append((f"line {number}", error))
    records: list[dict[str, Any] | None] = []
    problems: list[str] = []
    for where, item in numbered:
        if isinstance(item, dict):
            records.append(item)
            continue
        records.append(None)
        reason = f"invalid JSON ({item.msg})" if isinstance(item, json.JSONDecodeError) else "not a JSON object"
        problems.append(f"{source}, {where}: {reason}")
    return records, problems


def read_json_records(path: Path) -> tuple[list[dict[str, Any]], str]:
    """Records of a JSON list or JSONL metadata file, and the file's git blob sha; any bad record raises."""
    try:
        content = path.read_bytes()
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror or error}") from None
    records, problems = parse_json_records(content.decode("utf-8-sig", errors="replace"), str(path))
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise DataError(problems[0] + more)
    return [record for record in records if record is not None], git_blob_sha(content)


def resolve_hub_revision(repo_id: str, revision: str | None) -> str | None:
    """The commit sha that `revision` (a branch, tag or sha; None = main) points to, if the hub answers."""
    try:
        from huggingface_hub import HfApi

        return HfApi().dataset_info(repo_id, revision=revision).sha
    except Exception as error:  # offline, or a private/gated dataset: loading may still work from cache
        log.info("could not resolve %s@%s on the hub: %s", repo_id, revision or "main", error)
        return None


def load_hub_split(
    repo_id: str,
    split: str,
    *,
    config: str | None = None,
    revision: str | None = None,
    audio_columns: Iterable[str] = (),
    missing_hint: str = "",
) -> tuple[Any, str | None]:
    """Load one split of a hub dataset with its audio columns left encoded (decoded later by
    diffa-eval's own audio path), and the commit sha it was loaded from."""
    try:
        from datasets import Audio, load_dataset
    except ImportError as error:  # pragma: no cover - datasets is a core dependency
        raise DataError(f"the datasets package is needed to read {repo_id}: {error}") from None
    sha = resolve_hub_revision(repo_id, revision)
    try:
        dataset = load_dataset(repo_id, config, split=split, revision=sha or revision)
        for column in audio_columns:
            dataset = dataset.cast_column(column, Audio(decode=False))
    except Exception as error:
        where = f"{repo_id}" + (f" ({config})" if config else "") + f", split {split}"
        raise DataError(
            f"could not load {where} from the hub: {type(error).__name__}: {error}. {missing_hint}".strip()
        ) from None
    return dataset, sha


def hub_file(repo_id: str, filename: str, revision: str | None, missing_hint: str = "") -> Path:
    """One file of a hub dataset repository at `revision`, downloaded once into the hub cache; `repo_id`
    may also be a local folder in the repository's layout."""
    if Path(repo_id).is_dir():
        path = Path(repo_id) / filename
        if not path.is_file():
            raise DataError(f"{repo_id} has no {filename}. {missing_hint}".strip())
        return path
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo_id, filename, repo_type="dataset", revision=revision))
    except Exception as error:
        raise DataError(
            f"could not download {filename} from {repo_id}: {type(error).__name__}: {error}. {missing_hint}".strip()
        ) from None


def unpack_once(archive: Path, folder: Path) -> None:
    """Unpack a tar archive into `folder` unless an earlier call did (marked by `folder/.unpacked`).

    The archive is unpacked into a private folder whose entries are then moved into place:
    processes that unpack at the same time (shards, ranks) never read a half-written file, and
    the first to finish wins.
    """
    if (folder / ".unpacked").exists():
        return
    staging = Path(tempfile.mkdtemp(prefix=".unpacking-", dir=folder))
    try:
        with tarfile.open(archive) as bundle:
            if hasattr(tarfile, "data_filter"):
                bundle.extractall(staging, filter="data")
            else:  # Python < 3.10.12 has no extraction filters
                bundle.extractall(staging)
        for entry in staging.iterdir():
            with contextlib.suppress(OSError):  # another process moved it into place first
                entry.rename(folder / entry.name)
        (folder / ".unpacked").touch()
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def record_audio(record: Mapping[str, Any], path_field: str, base_dir: Path | None) -> AudioRef | None:
    """The audio of a metadata record: an embedded hub `audio` value, else `path_field` relative to `base_dir`."""
    audio = record.get("audio")
    if isinstance(audio, Mapping):
        return AudioRef.from_hf(audio)
    if record.get(path_field) and base_dir is not None:
        return AudioRef(path=_absolute(base_dir / str(record[path_field])))
    return None


def _absolute(path: Path) -> str:
    """`path` resolved; a symlink loop (which resolve() refuses) stays as given, for the audio reader to report."""
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):
        return os.path.abspath(path)


def short_record(record: Mapping[str, Any], limit: int = 200) -> str:
    """A record as short JSON for error messages, without its audio."""
    text = json.dumps({key: value for key, value in record.items() if key != "audio"}, default=str)
    return text if len(text) <= limit else text[:limit] + "..."
