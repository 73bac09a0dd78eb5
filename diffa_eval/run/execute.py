"""Executing a plan: decode audio, batch by length, generate, record, and score the new outputs.

Batches are sorted by audio length and decoded two ahead on a thread pool while the model works. A batch
that raises is retried one request at a time, so only the culprit fails. Each record is built from the
prepared sample (see `diffa_eval.run.plan`); the task is asked only to score.
"""

from __future__ import annotations

import gc
import logging
import sys
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from .. import audio
from ..errors import AudioError
from ..models.base import GenerationRequest, ModelAdapter, too_short
from ..store import RunStore, SampleRecord
from ..types import GenerationConfig, ModelOutput, Score, Unscored
from .plan import PreparedSample, RunPlan

log = logging.getLogger(__name__)

Decoded = tuple[PreparedSample, audio.DecodedAudio | str | None]
"""A sample with its decoded audio, why it could not be decoded, or None when it has no audio."""


AUTO_BATCH_START = 64
"""The first batch size `--batch-size auto` tries (lm-evaluation-harness's largest automatic batch too)."""


class BatchSize:
    """How many samples a run gives the model at once: a fixed number, or `auto`: start at AUTO_BATCH_START,
    halve a batch that runs out of device memory and try it again, and keep the halved size for the rest of
    the run (the longest clips go first, so the size that fits them fits the rest)."""

    def __init__(self, requested: int | str) -> None:
        self.auto = requested == "auto"
        self.size = AUTO_BATCH_START if self.auto else int(requested)
        self.out_of_memory: list[int] = []
        """The batch sizes that ran out of device memory, in order."""
        self.largest_run = 0
        """The largest batch the model answered."""

    def ran_out(self, attempted: int) -> None:
        self.out_of_memory.append(attempted)
        self.size = max(1, attempted // 2)
        log.warning("a batch of %d ran out of device memory; trying batches of %d", attempted, self.size)

    def to_dict(self) -> dict[str, Any]:
        """What the manifest records (`batching`)."""
        if not self.auto:
            return {"batch_size": self.size}
        return {
            "batch_size": "auto",
            "start": AUTO_BATCH_START,
            "fitted": self.largest_run or None,
            "out_of_memory_at": list(self.out_of_memory),
        }


def is_out_of_memory(error: BaseException) -> bool:
    """True for an accelerator's out-of-memory error (torch.OutOfMemoryError, alias torch.cuda.OutOfMemoryError)."""
    return any(cls.__name__ == "OutOfMemoryError" for cls in type(error).__mro__)


def release_device_memory() -> None:
    """Give the memory of a failed batch back to the device, so that the halved batch finds it free."""
    gc.collect()
    torch = sys.modules.get("torch")  # only a model that imported torch can have run out of its memory
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def produce(
    adapter: ModelAdapter,
    plan: RunPlan,
    pending: Sequence[PreparedSample],
    batch_size: int | BatchSize,
    long_audio: str,
) -> Iterator[list[SampleRecord]]:
    """Records for the pending samples, one batch at a time, decoding the next batches meanwhile."""
    sizer = batch_size if isinstance(batch_size, BatchSize) else BatchSize(batch_size)
    unreadable = [p for p in pending if p.probe_error is not None]
    if unreadable:
        yield [failure_record(p, p.probe_error or "", "audio") for p in unreadable]
    readable = sorted(
        (p for p in pending if p.probe_error is None),
        key=lambda p: p.probe.seconds if p.probe else 0.0,
        reverse=sizer.auto,  # the batches most likely to run out of memory first
    )
    size = sizer.size
    batches = [readable[i : i + size] for i in range(0, len(readable), size)]
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="decode") as pool:
        decoding: deque[Future[list[Decoded]]] = deque()
        for batch in batches[:2]:
            decoding.append(pool.submit(_decode, batch, adapter.sampling_rate, plan.resampler))
        for index in range(len(batches)):
            decoded = decoding.popleft().result()
            if index + 2 < len(batches):
                decoding.append(pool.submit(_decode, batches[index + 2], adapter.sampling_rate, plan.resampler))
            yield _generate(adapter, plan, decoded, long_audio, sizer)


def _decode(batch: Sequence[PreparedSample], sampling_rate: int, resampler: str) -> list[Decoded]:
    decoded: list[Decoded] = []
    for prepared in batch:
        if prepared.sample.audio is None:
            decoded.append((prepared, None))
            continue
        try:
            decoded.append((prepared, audio.decode(prepared.sample.audio, sampling_rate, resampler)))
        except AudioError as error:
            decoded.append((prepared, str(error)))
    return decoded


def _generate(
    adapter: ModelAdapter, plan: RunPlan, decoded: Sequence[Decoded], long_audio: str, sizer: BatchSize
) -> list[SampleRecord]:
    records: list[SampleRecord] = []
    ready: list[tuple[PreparedSample, audio.DecodedAudio | None, GenerationRequest]] = []
    limit: float | None = getattr(adapter, "max_audio_seconds", None)
    shortest: int = getattr(adapter, "min_audio_samples", 0)
    for prepared, result in decoded:
        if isinstance(result, str):
            records.append(failure_record(prepared, result, "audio"))
            continue
        array = None if result is None else result.array
        short = None if result is None else too_short(len(result.array), shortest, result.sampling_rate)
        if short is not None:
            records.append(failure_record(prepared, short, "audio"))
            continue
        if result is not None and limit and result.seconds > limit:
            if long_audio == "skip":
                message = f"audio is {result.seconds:.1f} s, longer than the model's {limit:g} s window"
                records.append(failure_record(prepared, message + " (--long-audio skip)", "audio"))
                continue
            array = result.array[: int(limit * result.sampling_rate)]
        request = GenerationRequest(
            sample_id=prepared.sample.id,
            prompt=prepared.prompt,
            audio=array,
            choices=prepared.choices,
            reference=prepared.reference,  # None unless the model declares it reads the reference
        )
        ready.append((prepared, result, request))
    outputs = _generate_fitting(adapter, [request for _, _, request in ready], plan.generation, sizer)
    produced = [
        output_record(prepared, request, decoded_audio, output)
        for (prepared, decoded_audio, request), output in zip(ready, outputs, strict=True)
    ]
    return records + _score_new(plan, produced, [prepared for prepared, _, _ in ready])


def _generate_fitting(
    adapter: ModelAdapter, requests: Sequence[GenerationRequest], generation: GenerationConfig, sizer: BatchSize
) -> list[ModelOutput]:
    """Generate in batches of the sizer's size; under `auto`, a batch that runs out of device memory is
    halved and tried again (a single request that does not fit fails alone)."""
    outputs: list[ModelOutput] = []
    start = 0
    while start < len(requests):
        chunk = requests[start : start + sizer.size]
        produced, out_of_memory = _try_batch(adapter, chunk, generation, halve_on_oom=sizer.auto)
        if out_of_memory:
            release_device_memory()
            sizer.ran_out(len(chunk))
            continue
        if produced is None:  # the batch failed otherwise: retry one request at a time so only the culprit fails
            produced = [output for request in chunk for output in _generate_isolated(adapter, [request], generation)]
        elif len(chunk) > 1 or produced[0].error is None:
            sizer.largest_run = max(sizer.largest_run, len(chunk))
        outputs += produced
        start += len(chunk)
    return outputs


def _generate_isolated(
    adapter: ModelAdapter, requests: Sequence[GenerationRequest], generation: GenerationConfig
) -> list[ModelOutput]:
    """Generate a batch; if the batch raises, retry one request at a time so only the culprit fails."""
    if not requests:
        return []
    produced, _ = _try_batch(adapter, requests, generation, halve_on_oom=False)
    if produced is not None:
        return produced
    return [output for request in requests for output in _generate_isolated(adapter, [request], generation)]


def _try_batch(
    adapter: ModelAdapter, requests: Sequence[GenerationRequest], generation: GenerationConfig, halve_on_oom: bool
) -> tuple[list[ModelOutput] | None, bool]:
    """The batch's outputs (a single request's failure when it raises), or None when a batch of several raised;
    and whether it ran out of device memory where that halves the batch. The caller acts after the handler is
    left, as the exception's traceback holds the failed batch's tensors."""
    try:
        outputs = adapter.generate(requests, generation)
        if len(outputs) != len(requests):
            raise RuntimeError(f"adapter returned {len(outputs)} outputs for {len(requests)} requests")
        return outputs, False
    except Exception as error:
        if len(requests) == 1:
            return [ModelOutput.failure(f"{type(error).__name__}: {error}")], False
        if halve_on_oom and is_out_of_memory(error):
            return None, True
        log.warning("batch of %d failed (%s: %s); retrying one by one", len(requests), type(error).__name__, error)
        return None, False


def _score_new(plan: RunPlan, produced: list[SampleRecord], prepared: list[PreparedSample]) -> list[SampleRecord]:
    """Score fresh outputs now, or mark them for scoring after generation (judge-scored tasks)."""
    ok = [i for i, record in enumerate(produced) if not record.failed]
    if plan.task.scores_after_generation:
        results: list[Score | Unscored] = [Unscored("scored once the run is generated", pending=True)] * len(ok)
    else:
        results = plan.task.score_batch([(prepared[i].sample, produced[i].output) for i in ok], plan.judge)
    scored = list(produced)
    for i, result in zip(ok, results, strict=True):
        scored[i] = with_score(produced[i], result)
    return scored


def score_stored(store: RunStore, plan: RunPlan, planned: Mapping[str, PreparedSample]) -> int:
    """Score, all at once, the stored outputs of `planned` that wait for a score, whose scoring failed, or whose
    reference, choices or fields changed since they were scored; returns how many of them changed."""
    records = [r for key, r in store.records().items() if key in planned and not r.needs_output]
    changed = [r for r in records if r.score_inputs != planned[r.key].score_inputs]
    waiting = [r for r in records if r.needs_score or r.score_inputs != planned[r.key].score_inputs]
    if not waiting:
        return 0
    samples = [planned[r.key] for r in waiting]
    results = plan.task.score_batch([(p.sample, r.output) for p, r in zip(samples, waiting, strict=True)], plan.judge)
    for record, prepared, result in zip(waiting, samples, results, strict=True):
        current = replace(
            record, reference=prepared.sample.reference, groups=prepared.groups, score_inputs=prepared.score_inputs
        )
        store.append(with_score(current, result))
    store.sync()
    return len(changed)


def failure_record(prepared: PreparedSample, message: str, stage: str) -> SampleRecord:
    """The record of a sample that failed before the model answered it (or whose model call failed)."""
    return SampleRecord(
        key=prepared.key,
        sample_id=prepared.sample.id,
        prompt=prepared.prompt,
        reference=prepared.sample.reference,
        groups=prepared.groups,
        audio_seconds=prepared.probe.seconds if prepared.probe else None,
        audio_sha256=prepared.probe.sha256 if prepared.probe else None,
        error=message,
        error_stage=stage,
        score_inputs=prepared.score_inputs,
        audio_path=local_audio_path(prepared),
    )


def output_record(
    prepared: PreparedSample, request: GenerationRequest, decoded: audio.DecodedAudio | None, output: ModelOutput
) -> SampleRecord:
    """The record of a produced output, not yet scored."""
    truncated_to = None
    if decoded is not None and request.audio is not None and len(request.audio) < len(decoded.array):
        truncated_to = round(len(request.audio) / decoded.sampling_rate, 6)
    return SampleRecord(
        key=prepared.key,
        sample_id=prepared.sample.id,
        prompt=request.prompt,
        output=output.text,
        reference=prepared.sample.reference,
        groups=prepared.groups,
        generated_tokens=output.generated_tokens,
        forward_passes=output.forward_passes,
        seconds=round(output.seconds, 6),
        encode_seconds=None if output.encode_seconds is None else round(output.encode_seconds, 6),
        decode_seconds=None if output.decode_seconds is None else round(output.decode_seconds, 6),
        model_details=dict(output.details),
        audio_seconds=decoded.seconds if decoded else None,
        audio_sha256=decoded.sha256 if decoded else None,
        audio_truncated_to=truncated_to,
        error=output.error,
        error_stage=None if output.error is None else "model",
        score_inputs=prepared.score_inputs,
        audio_path=local_audio_path(prepared),
    )


def local_audio_path(prepared: PreparedSample) -> str | None:
    """The absolute path of the sample's audio when it was read from a file on disk (not from bytes or an
    array a dataset held), else None."""
    ref = prepared.sample.audio
    if ref is None or ref.path is None or ref.data is not None or ref.array is not None:
        return None
    path = Path(ref.path)
    return str(path.resolve()) if path.is_file() else None


def with_score(record: SampleRecord, result: Score | Unscored) -> SampleRecord:
    """The record with a scoring result in place of any earlier one."""
    cleared = replace(
        record,
        extracted=None,
        score=None,
        score_details={},
        explanation=None,
        judgement=None,
        pending=None,
        error=None,
        error_stage=None,
    )
    if isinstance(result, Unscored):
        if result.pending:
            return replace(cleared, pending=result.reason)
        return replace(cleared, error=result.reason, error_stage="scoring")
    return replace(
        cleared,
        extracted=result.extracted,
        score=result.value,
        score_details=dict(result.details),
        explanation=result.explanation,
        judgement=None if result.judgement is None else dict(result.judgement),
    )
