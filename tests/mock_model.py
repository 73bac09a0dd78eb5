"""The tests' one model: a scripted adapter that answers by a rule, fails where told, sleeps, and records its calls.

`Script` says how the model behaves: its answer rule (by default the first answer option, else the
reference when it reads it, else ""), the samples whose batch raises (`raise_on`, ids or a predicate),
the batches that raise (`raise_batches`, by call number), the batch size above which it runs out of
device memory (`out_of_memory_above`), the samples that come back as failed outputs (`fail_on`), a delay
per request, whether it declares `reads_reference`, and its adapter attributes.
With `options` it describes itself before it loads (`profile_of`), as a built-in model does.
`MockModel` records every call (`calls`: the sample ids of each batch; `requests`: each request with
its generation settings) and, with `call_log`, appends each answered batch's ids to a file, so that a
test can count model work done in another process (a plugin made with `plugin_source`).
"""

from __future__ import annotations

import contextlib
import textwrap
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from diffa_eval.models import MODELS
from diffa_eval.models.base import GenerationRequest
from diffa_eval.models.profile import ModelProfile, Option, OptionSet
from diffa_eval.resample import DEFAULT_RESAMPLER
from diffa_eval.types import GenerationConfig, ModelOutput, ModelSpec

REPO = Path(__file__).resolve().parent.parent


def first_choice(request: GenerationRequest) -> str:
    """The first answer option; for an open item the reference (given to a model that reads it), else ""."""
    return request.choices[0] if request.choices else (request.reference or "")


@dataclass
class Script:
    """How a `MockModel` behaves; the sets may be changed while a test runs."""

    answer: Callable[[GenerationRequest], str] = first_choice
    raise_on: Collection[str] | Callable[[str], bool] = field(default_factory=set)
    """Sample ids (or a test on the id) whose whole batch raises."""
    raise_batches: Collection[int] = field(default_factory=set)
    """Calls (0-based) that raise, whatever they hold."""
    raise_message: str = "boom"
    fail_on: Collection[str] = field(default_factory=set)
    """Sample ids answered with a failed output (the others in their batch are answered)."""
    delay_s: float = 0.0
    """Time taken per request."""
    reads_reference: bool = False
    generated_tokens: int = 3
    forward_passes: int = 1
    seconds: float = 0.01
    name: str = "mock"
    sampling_rate: int = 16_000
    max_audio_seconds: float | None = None
    prompt_variants: tuple[str, ...] = ()
    resampler: str | None = None
    """The resampler the adapter asks for; None leaves the attribute out (the runner's default)."""
    out_of_memory_above: int | None = None
    """Batches of more requests raise torch's out-of-memory error, as a batch too big for a GPU does."""
    call_log: Path | None = None
    """A file that receives one line of sample ids per answered batch (the raising ids of a raising one)."""
    options: tuple[str, ...] | None = None
    """The generation options the model declares in a profile (any value accepted); None: it has no profile, so
    it takes any option and is planned only once loaded."""

    def raises(self, sample_id: str) -> bool:
        return self.raise_on(sample_id) if callable(self.raise_on) else sample_id in self.raise_on


class MockModel:
    """A model adapter that follows a `Script` and records what it was asked."""

    device = "cpu"

    def __init__(
        self,
        script: Script | None = None,
        calls: list[list[str]] | None = None,
        requests: list[tuple[GenerationRequest, GenerationConfig]] | None = None,
    ) -> None:
        """`calls` and `requests`: lists to record into (shared by every model a test loads), else new ones."""
        self.script = script or Script()
        self.name = self.script.name
        self.sampling_rate = self.script.sampling_rate
        self.max_audio_seconds = self.script.max_audio_seconds
        self.prompt_variants = self.script.prompt_variants
        self.reads_reference = self.script.reads_reference
        if self.script.resampler is not None:
            self.resampler = self.script.resampler
        self.calls: list[list[str]] = [] if calls is None else calls
        self.requests: list[tuple[GenerationRequest, GenerationConfig]] = [] if requests is None else requests

    def info(self) -> dict[str, str]:
        return {"kind": "test"}

    def close(self) -> None:
        pass

    def generate(self, requests: Sequence[GenerationRequest], config: GenerationConfig) -> list[ModelOutput]:
        script = self.script
        call = len(self.calls)
        self.calls.append([r.sample_id for r in requests])
        self.requests += [(r, config) for r in requests]
        if script.out_of_memory_above is not None and len(requests) > script.out_of_memory_above:
            import torch

            raise torch.OutOfMemoryError(f"CUDA out of memory: a batch of {len(requests)} does not fit")
        raising = [r.sample_id for r in requests if script.raises(r.sample_id)]
        if raising or call in script.raise_batches:
            self._log(raising)
            raise RuntimeError(script.raise_message)
        outputs = []
        for request in requests:
            time.sleep(script.delay_s)
            if request.sample_id in script.fail_on:
                outputs.append(ModelOutput.failure("the model failed on this sample", script.seconds))
                continue
            text = script.answer(request)
            outputs.append(ModelOutput(text, script.generated_tokens, script.forward_passes, script.seconds))
        self._log([r.sample_id for r in requests])  # answers given, whether recorded or not
        return outputs

    def _log(self, sample_ids: list[str]) -> None:
        if self.script.call_log is not None and sample_ids:
            with self.script.call_log.open("a") as log:
                log.write(" ".join(sample_ids) + "\n")


@dataclass
class Registered:
    """What the models registered by `registered` did: every call and request of every load, in order."""

    calls: list[list[str]] = field(default_factory=list)
    requests: list[tuple[GenerationRequest, GenerationConfig]] = field(default_factory=list)
    loaded: list[MockModel] = field(default_factory=list)


def profile_of(script: Script) -> ModelProfile:
    """The profile a scripted model with declared `options` describes itself with before it loads."""
    declared = tuple(Option(name, "any value", lambda value: True) for name in script.options or ())
    return ModelProfile(
        script.name,
        "autoregressive",
        script.sampling_rate,
        script.prompt_variants,
        script.max_audio_seconds,
        script.resampler or DEFAULT_RESAMPLER,
        script.reads_reference,
        options=OptionSet(declared),
    )


class _DescribedFactory:
    """A factory with a `profile`, as a plugin's adapter class may have."""

    def __init__(self, build: Callable[[ModelSpec, str], MockModel], script: Script) -> None:
        self._build = build
        self._script = script

    def __call__(self, spec: ModelSpec, device: str) -> MockModel:
        return self._build(spec, device)

    def profile(self, spec: ModelSpec) -> ModelProfile:
        return profile_of(self._script)


@contextlib.contextmanager
def registered(script: Script | None = None, name: str | None = None) -> Iterator[Registered]:
    """Register a model under `name` (default: the script's) whose every load follows `script` (and which
    describes itself with a profile when the script declares its options)."""
    script = script or Script()
    record = Registered()

    def factory(spec: ModelSpec, device: str) -> MockModel:
        model = MockModel(script, record.calls, record.requests)
        record.loaded.append(model)
        return model

    target = factory if script.options is None else _DescribedFactory(factory, script)
    MODELS.register(name or script.name, target, description="scripted test model")
    try:
        yield record
    finally:
        MODELS.unregister(name or script.name)


def plugin_source(factory_body: str, prelude: str = "") -> str:
    """A plugin module whose `factory(spec, device)` returns `MockModel(<factory_body>)`: a model that another
    process loads through an entry point. `prelude` runs first (imports, store wrappers)."""
    return (
        textwrap.dedent(
            f"""
        import sys

        sys.path.insert(0, {str(REPO)!r})  # the tests' package, for the mock model

        from tests.mock_model import MockModel, Script
        """
        )
        + textwrap.dedent(prelude)
        + textwrap.dedent(
            f"""

        def factory(spec, device):
            return MockModel({factory_body})
        """
        )
    )


def site_with_plugin(site: Path, distribution: str, model: str, source: str) -> Path:
    """An installed-looking distribution under `site` whose entry point registers `model` from `source`."""
    info = site / f"{distribution}-1.0.dist-info"
    info.mkdir(parents=True)
    (site / f"{distribution}_plugin.py").write_text(source)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[diffa_eval.models]\n{model} = {distribution}_plugin:factory\n")
    return site


def answered(call_log: Path) -> dict[str, int]:
    """Sample id -> how many answers the model gave for it (a raising sample: how often it raised), from `call_log`."""
    counts: dict[str, int] = {}
    if call_log.exists():
        for line in call_log.read_text().splitlines():
            for sample_id in line.split():
                counts[sample_id] = counts.get(sample_id, 0) + 1
    return counts
