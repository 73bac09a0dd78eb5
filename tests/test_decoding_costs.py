"""What decoding spends for nothing is gone, and the tokens did not change: the host never waits for the
accelerator in exact decoding (one read-back per pass where the loop depends on the data), confidences
are computed for the current block only, ties are ranked in one batched topk exactly as topk ranks each
row alone, a cached pass writes its keys into room the cache left for them, attention runs the fused
kernel, and the layers can run compiled."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

import diffa_eval.decoding.commits as commits
from diffa_eval.decoding import ContextDenoiser, DiffusionSettings, TokenDenoiser, generate, sample
from diffa_eval.decoding.commits import reference_topk
from diffa_eval.errors import ConfigError
from diffa_eval.models import load_model
from diffa_eval.models.base import GenerationRequest
from diffa_eval.models.diffa.llada import LLaDAConfig, LLaDAForMaskedDiffusion
from diffa_eval.models.diffa.tiny import tiny_llada_config
from diffa_eval.types import GenerationConfig, ModelSpec

VOCAB = 512
MASK, EOS = VOCAB - 1, VOCAB - 2


def tiny_llada(seed: int = 0, dtype: torch.dtype = torch.float32) -> LLaDAForMaskedDiffusion:
    torch.manual_seed(seed)
    model = LLaDAForMaskedDiffusion(LLaDAConfig.from_llada_config({**tiny_llada_config(), "embedding_size": VOCAB}))
    for parameter in model.parameters():
        torch.nn.init.normal_(parameter, std=0.3)
    return model.to(dtype).eval()  # type: ignore[no-any-return]


def per_row_topk(
    confidence: torch.Tensor, k: list[int], lengths: list[int], offsets: list[int], first_only: bool
) -> torch.Tensor:
    """The references' way: one topk per row over that row as they hold it."""
    chosen = torch.zeros_like(confidence, dtype=torch.bool)
    for row in range(confidence.shape[0]):
        if k[row] == 0:
            continue
        line = confidence.new_full((lengths[row],), -torch.inf)
        line[offsets[row] : offsets[row] + confidence.shape[1]] = confidence[row]
        picked = torch.topk(line, k[row]).indices - offsets[row]
        chosen[row, picked[:1] if first_only else picked] = True
    return chosen


def test_the_batched_ranking_commits_what_topk_commits_row_by_row_ties_included() -> None:
    generator = torch.Generator().manual_seed(0)
    for trial in range(300):
        batch, width = int(torch.randint(1, 6, (1,), generator=generator)), int(torch.randint(2, 17, (1,)))
        # Few distinct values: many exact ties, as saturated float64 probabilities give.
        levels = torch.tensor([0.25, 0.5, 1.0, -torch.inf], dtype=torch.float64)
        confidence = levels[torch.randint(0, 4, (batch, width), generator=generator)]
        confidence[:, 0] = 1.0  # at least one finite position per row
        finite = (confidence > -torch.inf).sum(dim=1).tolist()
        prefixes = [int(torch.randint(0, 3, (1,), generator=generator)) * 37 for _ in range(batch)]
        shared_k = trial % 2 == 0  # the exact schedule gives every row the same count
        k = [min(finite[0], 1 + trial % 3)] * batch if shared_k else [1 + (trial + r) % n for r, n in enumerate(finite)]
        k = [min(count, n) for count, n in zip(k, finite, strict=True)]
        lengths = [prefix + width + trial % 5 for prefix in prefixes]
        for first_only in (False, True):
            expected = per_row_topk(confidence, k, lengths, prefixes, first_only)
            assert torch.equal(reference_topk(confidence, k, lengths, prefixes, first_only), expected), trial


@contextlib.contextmanager
def counted_read_backs() -> Iterator[list[str]]:
    """Count every call that makes the host wait for a tensor's value (on a GPU: a synchronisation)."""
    calls: list[str] = []
    saved: dict[str, Any] = {}

    def spy(name: str, original: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return original(*args, **kwargs)

        return wrapper

    names = ("tolist", "item", "__bool__", "__int__", "__float__", "__index__", "numpy", "nonzero")
    for name in names:
        saved[name] = getattr(torch.Tensor, name)
        setattr(torch.Tensor, name, spy(name, saved[name]))
    saved_equal, saved_getitem = torch.equal, torch.Tensor.__getitem__

    def getitem(tensor: torch.Tensor, index: Any) -> Any:
        parts = index if isinstance(index, tuple) else (index,)
        if any(isinstance(p, torch.Tensor) and p.dtype == torch.bool for p in parts):
            calls.append("boolean index")
        return saved_getitem(tensor, index)

    torch.equal = spy("equal", saved_equal)  # type: ignore[assignment]
    torch.Tensor.__getitem__ = getitem  # type: ignore[method-assign,assignment]
    try:
        yield calls
    finally:
        for name, original in saved.items():
            setattr(torch.Tensor, name, original)
        torch.equal = saved_equal  # type: ignore[assignment]
        torch.Tensor.__getitem__ = saved_getitem  # type: ignore[method-assign]


def context_denoiser(model: LLaDAForMaskedDiffusion, padded: bool) -> ContextDenoiser:
    prompt = torch.randint(0, EOS, (3, 9), generator=torch.Generator().manual_seed(2))
    mask = torch.ones_like(prompt)
    if padded:
        mask[1, :4] = 0
    return ContextDenoiser(model, model.get_input_embeddings()(prompt), mask)


@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize(
    ("mode", "per_pass"),
    [
        ("exact", 0),
        ("prefix-cache", 0),
        ("dual-cache", 0),
        ("threshold", 1),
        ("threshold+dual-cache", 1),
        ("factor+prefix-cache", 2),  # the factor rule's count depends on the pass's own confidences
    ],
)
def test_decoding_reads_back_from_the_device_only_where_the_loop_depends_on_the_data(
    mode: str, per_pass: int, padded: bool
) -> None:
    """Exact decoding and the caches under the exact schedule never wait for the device; the
    threshold rule reads one small tensor back per pass (how many masks are left, which rows stopped)."""
    model = tiny_llada()
    denoiser = context_denoiser(model, padded)
    settings = DiffusionSettings.from_mode(
        mode, gen_length=8, block_length=4, steps=8, mask_id=MASK, eos_id=EOS, threshold=0.5
    )
    with torch.no_grad(), counted_read_backs() as calls:
        result = sample(denoiser, 3, settings, prefix_lengths=[9, 5, 9] if padded else None)
    assert len(calls) <= per_pass * max(result.forward_passes), calls


def test_the_float64_softmax_runs_over_the_current_block_only(monkeypatch: pytest.MonkeyPatch) -> None:
    shapes: list[tuple[int, ...]] = []
    softmax = F.softmax

    def recording_softmax(input: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        shapes.append(tuple(input.shape))
        return softmax(input, *args, **kwargs)

    monkeypatch.setattr(commits.F, "softmax", recording_softmax)
    model, prompt = tiny_llada(), torch.randint(0, EOS, (2, 7), generator=torch.Generator().manual_seed(0))
    generate(model, prompt, steps=6, gen_length=12, block_length=4, mask_id=MASK)
    assert shapes and {shape[:2] for shape in shapes} == {(2, 4)}


def test_a_cached_pass_writes_its_keys_into_the_room_left_for_them() -> None:
    model = tiny_llada()
    ids = torch.randint(0, VOCAB, (2, 17), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        full = model(ids, return_key_values=True)
        assert full.key_values is not None and full.key_values.mask is None  # no padding, no mask
        kept = full.key_values.without(9, 13)
        buffers = [key.data_ptr() for key in kept.keys]
        assert kept.room == 4 and kept.length == 13 and kept.keys[0].shape[2] == 17
        positions = torch.arange(17).expand(2, -1)
        cached = model(ids[:, 9:13], position_ids=positions[:, 9:13], past_key_values=kept)
    assert [key.data_ptr() for key in kept.keys] == buffers  # written in place, not appended to a copy
    torch.testing.assert_close(kept.keys[0][:, :, 13:], full.key_values.keys[0][:, :, 9:13])
    torch.testing.assert_close(cached.logits, full.logits[:, 9:13], atol=1e-5, rtol=1e-5)


def attention_kernels(model: LLaDAForMaskedDiffusion, **inputs: Any) -> set[str]:
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU]) as trace:
        model(**inputs)
    return {event.name for event in trace.events() if "scaled_dot_product" in event.name}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_attention_runs_the_fused_kernel_with_and_without_padding(dtype: torch.dtype) -> None:
    model = tiny_llada(dtype=dtype)
    ids = torch.randint(0, VOCAB, (2, 12), generator=torch.Generator().manual_seed(3))
    mask = torch.ones_like(ids)
    mask[1, :5] = 0
    for inputs in ({"input_ids": ids}, {"input_ids": ids, "attention_mask": mask}):
        kernels = attention_kernels(model, **inputs)
        assert "aten::_scaled_dot_product_flash_attention_for_cpu" in kernels
        assert not any("math" in name for name in kernels)


def test_compiled_layers_decode_the_same_tokens_with_one_graph_for_every_layer() -> None:
    from torch._dynamo.utils import counters

    model, prompt = tiny_llada(), torch.randint(0, EOS, (2, 7), generator=torch.Generator().manual_seed(0))
    shape: dict[str, Any] = {"steps": 8, "gen_length": 8, "block_length": 4, "mask_id": MASK, "eos_id": EOS}
    eager = {mode: generate(model, prompt, decoding=mode, **shape) for mode in ("exact", "threshold+dual-cache")}
    torch._dynamo.reset()
    counters.clear()
    model.compile_layers("default", backend="aot_eager")  # inductor's kernels may round differently
    for mode, tokens in eager.items():
        assert torch.equal(generate(model, prompt, decoding=mode, **shape), tokens)
    assert counters["stats"]["unique_graphs"] <= 3  # full pass, refresh with keys, cached pass: not one per layer
    model.compile_layers(None)
    assert torch.equal(generate(model, prompt, **shape), eager["exact"])
    with pytest.raises(ConfigError):
        model.compile_layers("fastest")


def test_the_compile_option_is_recorded_and_a_bad_value_refused() -> None:
    adapter = load_model(ModelSpec.parse("diffa-tiny"), "cpu")
    request = GenerationRequest("a", "Which one?", np.zeros(16_000, dtype=np.float32))
    with pytest.raises(ConfigError, match="compile"):
        adapter.generate([request], GenerationConfig(4, options={"compile": "fastest"}))
    (output,) = adapter.generate([request], GenerationConfig(4, options={"compile": "none"}))
    assert output.error is None and "compile" not in output.details


@pytest.mark.parametrize(("gen_length", "block_length", "batch"), list(itertools.product([8], [4, 8], [1, 3])))
def test_token_decoding_is_unchanged_by_batching_the_ranking(gen_length: int, block_length: int, batch: int) -> None:
    """Rows of one length share one topk; the tokens are those of each row decoded alone."""
    model = tiny_llada()
    prompt = torch.randint(0, EOS, (batch, 6), generator=torch.Generator().manual_seed(batch))
    shape: dict[str, Any] = {"steps": 8, "gen_length": gen_length, "block_length": block_length, "mask_id": MASK}
    together = generate(model, prompt, **shape)
    alone = torch.cat([generate(model, prompt[i : i + 1], **shape) for i in range(batch)])
    assert torch.equal(together, alone)
    denoiser = TokenDenoiser(model, prompt, mask_id=MASK)
    settings = DiffusionSettings(gen_length, steps=8, block_length=block_length, mask_id=MASK)
    assert torch.equal(sample(denoiser, batch, settings, row_length=6 + gen_length).tokens, together[:, 6:])
