"""Finding every model's weights before any model loads (`check_sources`).

Each folder a model loads (`profile.WeightSource`) is a local path, checked for the parts it needs, or a hub
id, looked up in the hub cache. What is neither there nor downloadable (the hub is offline or cannot be
reached) fails the run at once, with what to do: name a local copy (`NAME@PATH`, or the variable that
overrides a base model), fill the cache where the hub can be reached, or unset `HF_HUB_OFFLINE`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import hub
from ..errors import CheckpointError
from .profile import CONFIG, PROCESSOR, TOKENIZER, WEIGHTS, WeightSource

log = logging.getLogger(__name__)

PART_FILES: dict[str, tuple[str, ...]] = {
    CONFIG: ("config.json",),
    PROCESSOR: ("preprocessor_config.json", "processor_config.json"),
    TOKENIZER: ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model"),
}
"""Files any one of which makes a part present; weights are checked by `has_weights`."""


def has_weights(folder: Path) -> bool:
    """True when the folder holds safetensors or PyTorch weights: single files, or an index whose shards
    are all there."""
    indexes = sorted(folder.glob("*.index.json"))
    for index in indexes:
        try:
            shards = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        if shards and all((folder / shard).is_file() for shard in shards):
            return True
    if indexes:
        return False  # a sharded checkpoint with shards missing is not usable, whatever else lies there
    return any(folder.glob("*.safetensors")) or any(folder.glob("*.bin"))


def missing_parts(folder: Path, parts: Sequence[str]) -> list[str]:
    """The parts (config, weights, processor, tokenizer) the folder lacks."""
    missing = []
    for part in parts:
        if part == WEIGHTS:
            present = has_weights(folder)
        else:
            present = any((folder / name).is_file() for name in PART_FILES[part])
        if not present:
            missing.append(part)
    return missing


def is_local(reference: str) -> bool:
    """A reference that names a path (absolute, relative with ./ or ../, or ~, or one that exists), not a hub id."""
    return reference.startswith(("/", ".", "~")) or Path(reference).expanduser().exists()


def checkpoint_folder(reference: str, revision: str | None = None) -> Path | None:
    """The folder a checkpoint reference names: the local path, or the hub id's cached snapshot; None when
    neither is there (nothing is downloaded)."""
    if is_local(reference):
        path = Path(reference).expanduser()
        return path if path.is_dir() else None
    repo_id, subfolder = _hub_id(reference, subfolder=False)
    snapshot = None if repo_id is None else hub.cached_snapshot(repo_id, revision)
    return None if snapshot is None else snapshot / subfolder if subfolder else snapshot


@dataclass(frozen=True)
class _HubNeed:
    model: str
    source: WeightSource
    repo_id: str
    missing: list[str]
    cached: bool
    """Whether a snapshot of the repository is cached at all (it then lacks `missing`)."""


def check_sources(models: Sequence[tuple[str, Sequence[WeightSource]]], datasets_may_use_hub: bool = False) -> None:
    """Raise CheckpointError, naming every model and what to do, when a folder a model loads is missing and
    cannot be downloaded. `models`: (model as named, its sources). Where the hub cannot be reached, the process
    then works from the cache (`hub.work_offline`), so that nothing retries the hub; `datasets_may_use_hub`
    asks for that check even when no model needs the hub."""
    problems: list[str] = []
    needs: list[_HubNeed] = []
    uses_hub = datasets_may_use_hub
    for model, sources in models:
        for source in sources:
            if is_local(source.reference):
                problem = _local_problem(model, source)
                if problem:
                    problems.append(problem)
                continue
            repo_id, subfolder = _hub_id(source.reference, source.subfolder)
            if repo_id is None:
                form = "owner/name[/subfolder]" if source.subfolder else "owner/name"
                named = _named(model, source)
                problems.append(f"{named}: {source.reference!r} is neither a folder nor a hub id ({form})")
                continue
            uses_hub = True
            snapshot = hub.cached_snapshot(repo_id, source.revision)
            folder = snapshot / subfolder if snapshot is not None and subfolder else snapshot
            found = folder is not None and folder.is_dir()
            missing = missing_parts(folder, source.parts) if found and folder is not None else list(source.parts)
            if missing:
                needs.append(_HubNeed(model, source, repo_id, missing, snapshot is not None))
    offline_reason = unreachable = None
    if uses_hub:
        if hub.is_offline():
            offline_reason = "HF_HUB_OFFLINE is set, so nothing is downloaded (unset it where the hub can be reached)"
        else:
            unreachable = hub.unreachable()
            if unreachable is not None:
                offline_reason = (
                    f"the hub ({hub.endpoint()}) cannot be reached ({unreachable}), so nothing can be downloaded "
                    "(HF_HUB_OFFLINE=1 skips this check where the hub never can be reached)"
                )
                hub.work_offline()
    if needs and offline_reason is not None:
        problems.append(_hub_problem(needs, offline_reason))
    if problems:
        raise CheckpointError("; ".join(problems))
    if unreachable is not None:
        log.warning("the Hugging Face hub cannot be reached (%s): working from the local cache", unreachable)


def _named(model: str, source: WeightSource) -> str:
    """The model as named and, where a variable named the folder, that too: "diffa-2 (DIFFA_EVAL_LLADA=/x)"."""
    if source.given_by is None or source.given_by == model:
        return model
    return f"{model} ({source.given_by}={source.reference})"


def _local_problem(model: str, source: WeightSource) -> str | None:
    path = Path(source.reference).expanduser()
    where = f"{_named(model, source)}: the {source.role} path {source.reference}"
    if not path.exists():
        return f"{where} does not exist (give an existing folder: {source.override})"
    if not path.is_dir():
        return f"{where} is not a folder"
    missing = missing_parts(path, source.parts)
    if missing:
        return f"{where} lacks its {_parts_text(missing)} ({_expected(missing)})"
    return None


def _hub_id(reference: str, subfolder: bool) -> tuple[str | None, str]:
    parts = reference.strip("/").split("/")
    if len(parts) < 2 or any(not part for part in parts) or (len(parts) > 2 and not subfolder):
        return None, ""
    return "/".join(parts[:2]), "/".join(parts[2:])


def _hub_problem(needs: Sequence[_HubNeed], offline_reason: str) -> str:
    """One message for every hub folder that is missing from the cache and cannot be downloaded."""
    items = []
    for need in needs:
        cached = f", cached without its {_parts_text(need.missing)}" if need.cached else ""
        items.append(
            f"{need.source.reference} for {_named(need.model, need.source)} ({need.source.role}: "
            f"{_parts_text(need.source.parts)}{cached}; or a local copy: {need.source.override})"
        )
    verb = "is" if len(items) == 1 else "are"
    download = f"hf download {needs[0].repo_id}" if len(needs) == 1 else "hf download REPO for each"
    return (
        f"missing weights: {' and '.join(items)} {verb} not in the local Hugging Face cache ({hub.cache_folder()}), "
        f"and {offline_reason}. Download into that cache where the hub can be reached ({download}; HF_HOME or "
        f"HF_HUB_CACHE name the cache), or give {'a local copy' if len(needs) == 1 else 'local copies'} as shown"
    )


def _parts_text(parts: Sequence[str]) -> str:
    return ", ".join(parts)


def _expected(parts: Sequence[str]) -> str:
    names = []
    for part in parts:
        if part == WEIGHTS:
            names.append("*.safetensors or *.bin, or an index with its shards")
        else:
            names.append(" or ".join(PART_FILES[part]))
    return "; ".join(names)
