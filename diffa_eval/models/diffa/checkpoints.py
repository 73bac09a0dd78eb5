"""Finding and reading checkpoints: a local folder or a hub id (optionally `owner/name/subfolder`),
weights as safetensors or PyTorch `.bin`, single files or sharded with an index."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from ...errors import CheckpointError

SAFETENSORS_NAMES = ("model.safetensors",)
BIN_NAMES = ("pytorch_model.bin", "pytorch.bin", "model.bin")


def resolve_directory(reference: str, what: str) -> Path:
    """A local folder for `reference`: the folder itself, or a hub snapshot of `owner/name[/subfolder]`."""
    local = Path(reference).expanduser()
    if local.is_dir():
        return local
    parts = reference.strip("/").split("/")
    if local.exists() or len(parts) < 2 or reference.startswith((".", "/", "~")):
        raise CheckpointError(f"{what}: {reference!r} is neither a folder nor a hub id (owner/name[/subfolder])")
    repo_id, subfolder = "/".join(parts[:2]), "/".join(parts[2:])
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.bin", "*.model", "*.txt", "*.tiktoken"]
    try:
        snapshot = Path(
            snapshot_download(repo_id, allow_patterns=[f"{subfolder}/{p}" if subfolder else p for p in patterns])
        )
    except Exception as error:  # the hub client raises many types; all mean "not available"
        reason = f"{type(error).__name__}: {error}"
        raise CheckpointError(f"{what}: cannot fetch hub repository {repo_id!r} ({reason})") from error
    folder = snapshot / subfolder if subfolder else snapshot
    if not folder.is_dir():
        raise CheckpointError(f"{what}: hub repository {repo_id!r} has no folder {subfolder!r}")
    return folder


def read_json(folder: Path, name: str, what: str) -> dict[str, Any]:
    path = folder / name
    if not path.is_file():
        raise CheckpointError(f"{what}: {path} is missing")
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise CheckpointError(f"{what}: {path} is not a JSON object")
    return data


def weight_files(folder: Path, what: str, names: Sequence[str] = SAFETENSORS_NAMES + BIN_NAMES) -> list[Path]:
    """The weight files of a checkpoint folder: a sharded index if there is one, else the first single
    file among `names` (safetensors before .bin)."""
    for name in names:
        index = folder / f"{name}.index.json"
        if index.is_file():
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
            missing = [shard for shard in shards if not (folder / shard).is_file()]
            if missing:
                raise CheckpointError(f"{what}: {folder} lacks shard(s) {', '.join(missing)} named in {index.name}")
            return [folder / shard for shard in shards]
        if (folder / name).is_file():
            return [folder / name]
    raise CheckpointError(f"{what}: no weights in {folder} (looked for {', '.join(names)} and their .index.json)")


def iter_tensors(files: Sequence[Path]) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) pairs from safetensors or .bin files, one file at a time, on the CPU."""
    for path in files:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt", device="cpu") as handle:
                for name in handle.keys():  # noqa: SIM118 - safe_open has no __iter__
                    yield name, handle.get_tensor(name)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            if not isinstance(state, dict):
                raise CheckpointError(f"{path} does not hold a state dict")
            yield from state.items()
