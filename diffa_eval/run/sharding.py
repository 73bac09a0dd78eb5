"""Data parallel runs: which samples a shard owns, and the torchrun ranks that run shards together.

A sample belongs to shard `hash(resume key) mod N`, so the assignment depends neither on dataset
order nor on batching, and any N covers every sample: resuming with another number of shards
or ranks skips whatever any earlier shard recorded and runs the rest.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from ..errors import ConfigError

BARRIER_TIMEOUT = timedelta(days=7)
"""How long a rank waits for the slowest one at the end of each (model, task): ranks may be hours apart."""


@dataclass(frozen=True)
class ShardSpec:
    """Shard `index` of `count` (0-based), written `I/N` on the command line."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ConfigError(f"a shard is I/N with 0 <= I < N, got {self.index}/{self.count}")

    @classmethod
    def parse(cls, text: str) -> ShardSpec:
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if match is None:
            raise ConfigError(f"--shard expects I/N (e.g. 0/4), got {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    def owns(self, key: str) -> bool:
        """True when the sample with this resume key belongs to this shard."""
        return shard_of(key, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(key: str, count: int) -> int:
    """The shard, out of `count`, that a resume key belongs to."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % count


class RankGroup(Protocol):
    """The processes of one data-parallel run: rank 0 finishes each run once every rank has finished."""

    rank: int
    world_size: int

    def barrier(self) -> None: ...


@dataclass(frozen=True)
class TorchrunEnv:
    """The environment torchrun gives each process (the same contract on one node or many)."""

    rank: int
    world_size: int
    local_rank: int

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> TorchrunEnv | None:
        """The ranks when started by torchrun with more than one process; None otherwise."""
        env = os.environ if environ is None else environ
        if "RANK" not in env or "WORLD_SIZE" not in env:
            return None
        try:
            rank, world_size = int(env["RANK"]), int(env["WORLD_SIZE"])
            local_rank = int(env.get("LOCAL_RANK", rank))
        except ValueError:
            raise ConfigError("RANK, WORLD_SIZE and LOCAL_RANK must be integers") from None
        if world_size <= 1:
            return None
        if not 0 <= rank < world_size:
            raise ConfigError(f"RANK {rank} is outside WORLD_SIZE {world_size}")
        return cls(rank, world_size, local_rank)

    @property
    def shard(self) -> ShardSpec:
        return ShardSpec(self.rank, self.world_size)

    def device(self, requested: str) -> str:
        """This rank's device: `auto` and `cuda` become `cuda:LOCAL_RANK` when CUDA is available."""
        if requested not in ("auto", "cuda"):
            return requested
        import torch

        if not torch.cuda.is_available():
            return requested
        torch.cuda.set_device(self.local_rank % torch.cuda.device_count())
        return f"cuda:{self.local_rank % torch.cuda.device_count()}"


class TorchDistributedGroup:
    """Barriers between torchrun's processes over a gloo process group.

    gloo rather than NCCL: the group only ever carries barriers, gloo needs no GPU memory and no
    device binding, and it works the same on CPU-only machines.
    """

    def __init__(self, env: TorchrunEnv) -> None:
        import torch.distributed as dist

        self.rank = env.rank
        self.world_size = env.world_size
        self._owned = not dist.is_initialized()
        if self._owned:
            dist.init_process_group("gloo", rank=env.rank, world_size=env.world_size, timeout=BARRIER_TIMEOUT)
        self._group = dist.new_group(backend="gloo", timeout=BARRIER_TIMEOUT) if not self._owned else None

    def barrier(self) -> None:
        import torch.distributed as dist

        dist.barrier(group=self._group)

    def close(self) -> None:
        import torch.distributed as dist

        if self._owned and dist.is_initialized():
            dist.destroy_process_group()
