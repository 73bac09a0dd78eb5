"""Where task data comes from: hub datasets at a resolved commit, local files identified by hash.

Tasks call these helpers so that every run records exactly which data it read: the hub
commit sha, or the git blob sha of a local metadata file (the same id `git hash-object`
prints, so it can be compared with the benchmark repository's history).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import DataError

log = logging.getLogger(__name__)


def git_blob_sha(content: bytes) -> str:
    """The git object id of a file with this content (`git hash-object FILE`)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def read_json_records(path: Path) -> tuple[list[dict[str, Any]], str]:
    """Records of a JSON list or JSONL file, and the file's git blob sha."""
    try:
        content = path.read_bytes()
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror or error}") from None
    text = content.decode("utf-8-sig", errors="replace")
    try:
        if path.suffix == ".jsonl":
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            records = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise DataError(f"{path} must hold a list of objects")
    return records, git_blob_sha(content)


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
