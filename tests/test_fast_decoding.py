"""Fast decoding modes: threshold commits, EOS early stop, prefix and dual key/value caches, and the
guards that tie each of them back to exact decoding token for token."""

from __future__ import annotations

import dataclasses
import itertools
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from diffa_eval.decoding import (
    ContextDenoiser,
    DiffusionSettings,
    TokenDenoiser,
    generate,
    mode_name,
    parse_mode,
    sample,
)
from diffa_eval.decoding.commits import factor_counts
from diffa_eval.errors import ConfigError
from diffa_eval.models import load_model
from diffa_eval.models.base import GenerationRequest
from diffa_eval.models.diffa.llada import LLaDAConfig, LLaDAForMaskedDiffusion
from diffa_eval.models.diffa.tiny import tiny_llada_config, tiny_pipeline
from diffa_eval.types import GenerationConfig, ModelSpec

from .factor_rule import factor_count
from .llada_references import ReferenceLM, import_fast_dllm_generate, twin_backbones

VOCAB = 512
MASK, EOS = VOCAB - 1, VOCAB - 2
CPU = torch.device("cpu")


def tiny_llada(seed: int = 0) -> LLaDAForMaskedDiffusion:
    torch.manual_seed(seed)
    model = LLaDAForMaskedDiffusion(LLaDAConfig.from_llada_config({**tiny_llada_config(), "embedding_size": VOCAB}))
    for parameter in model.parameters():
        torch.nn.init.normal_(parameter, std=0.3)
    return model.eval()


def prompts(batch: int = 2, length: int = 7, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, EOS, (batch, length), generator=torch.Generator().manual_seed(seed))


def decode(model: LLaDAForMaskedDiffusion, prompt: torch.Tensor, **settings: object) -> torch.Tensor:
    options: dict[str, object] = {"gen_length": 8, "block_length": 4, "steps": 8, "mask_id": MASK, "eos_id": EOS}
    options.update(settings)
    return generate(model, prompt, **options)[:, prompt.shape[1] :]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("exact", ("exact", "none")),
        ("threshold", ("threshold", "none")),
        ("prefix-cache", ("exact", "prefix")),
        ("dual-cache", ("exact", "dual")),
        ("threshold+prefix-cache", ("threshold", "prefix")),
        ("factor+dual-cache", ("factor", "dual")),
    ],
)
def test_mode_names_name_a_commit_rule_and_a_cache(mode: str, expected: tuple[str, str]) -> None:
    assert parse_mode(mode) == expected
    assert mode_name(*expected) == mode


@pytest.mark.parametrize("mode", ["fast", "prefix", "threshold+factor", "prefix-cache+threshold+dual-cache", ""])
def test_unknown_mode_names_are_refused(mode: str) -> None:
    with pytest.raises(ConfigError):
        parse_mode(mode)


def test_caching_with_classifier_free_guidance_is_refused() -> None:
    with pytest.raises(ConfigError):
        DiffusionSettings.from_mode("prefix-cache", gen_length=8, cfg_scale=1.0)


@pytest.mark.parametrize(("kept_before", "kept_after"), [(9, 0), (9, 4)])
def test_a_cached_forward_gives_the_full_forwards_logits_when_nothing_changed(
    kept_before: int, kept_after: int
) -> None:
    model = tiny_llada()
    ids = torch.randint(0, VOCAB, (2, 17), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, :3] = 0  # a left-padded row
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    stop = ids.shape[1] - kept_after
    with torch.no_grad():
        full = model(ids, attention_mask=mask, position_ids=positions, return_key_values=True)
        assert full.key_values is not None
        kept = full.key_values.without(kept_before, stop)
        cached = model(ids[:, kept_before:stop], position_ids=positions[:, kept_before:stop], past_key_values=kept)
    torch.testing.assert_close(cached.logits, full.logits[:, kept_before:stop], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("gen_length", "block_length"), [(8, 8), (8, 4), (12, 4)])
def test_threshold_one_commits_one_token_per_pass_exactly_as_exact_decoding(gen_length: int, block_length: int) -> None:
    model, prompt = tiny_llada(), prompts()
    shape = {"gen_length": gen_length, "block_length": block_length, "steps": gen_length}
    exact = decode(model, prompt, **shape)
    assert torch.equal(decode(model, prompt, decoding="threshold", threshold=1.0, eos_stop=False, **shape), exact)


@pytest.mark.parametrize(
    ("mode", "steps"),
    [
        ("prefix-cache", 4),
        ("dual-cache", 4),
        ("prefix-cache", 8),
        ("threshold+prefix-cache", 8),
        ("threshold+dual-cache", 8),
    ],
)
def test_caches_refreshed_every_pass_reproduce_exact_decoding(mode: str, steps: int) -> None:
    model, prompt = tiny_llada(), prompts()
    exact = decode(model, prompt, steps=steps)
    fast = decode(model, prompt, steps=steps, decoding=mode, threshold=1.0, eos_stop=False, cache_refresh=1)
    assert torch.equal(fast, exact)


@pytest.mark.parametrize("mode", ["prefix-cache", "dual-cache", "threshold+prefix-cache", "factor+dual-cache"])
def test_cached_modes_fill_every_position_and_spend_most_passes_on_the_cache(mode: str) -> None:
    pipeline = tiny_pipeline(CPU, seed=1)
    settings = DiffusionSettings.from_mode(mode, gen_length=8, block_length=4, eos_stop=False)
    results = pipeline.generate([clip(1.0), clip(2.0, 1)], ["Which one?", "Name the sound."], settings)
    for result in results:
        assert pipeline.mask_id not in result.tokens
        assert result.details == {"mode": mode, "eos_stop": False, "full_passes": 2}  # one full forward per block
        assert result.forward_passes > result.details["full_passes"]


def test_the_audio_context_cache_refreshed_every_pass_reproduces_exact_diffa_decoding() -> None:
    pipeline = tiny_pipeline(CPU, seed=1)
    clips, questions = [clip(0.6, 1), clip(2.9, 2)], ["Short?", "A somewhat longer question about the clip?"]
    exact = pipeline.generate(clips, questions, DiffusionSettings(gen_length=8, block_length=4))
    for mode in ("prefix-cache", "dual-cache"):
        settings = DiffusionSettings.from_mode(mode, gen_length=8, block_length=4, cache_refresh=1)
        assert [r.tokens for r in pipeline.generate(clips, questions, settings)] == [r.tokens for r in exact]


@pytest.mark.parametrize("mode", ["threshold", "threshold+prefix-cache", "factor+dual-cache", "dual-cache"])
def test_cached_and_parallel_modes_decode_a_mixed_length_batch_like_one_clip_at_a_time(mode: str) -> None:
    pipeline = tiny_pipeline(CPU, seed=1)
    clips = [clip(0.6, 1), clip(2.9, 2), clip(5.3, 3)]
    questions = ["Short?", "A somewhat longer question about the clip?", "Mid length one?"]
    settings = DiffusionSettings.from_mode(mode, gen_length=8, block_length=4, threshold=0.2)
    batched = pipeline.generate(clips, questions, settings)
    alone = [pipeline.generate([c], [q], settings)[0] for c, q in zip(clips, questions, strict=True)]
    assert [r.tokens for r in batched] == [r.tokens for r in alone]
    assert [r.forward_passes for r in batched] == [r.forward_passes for r in alone]


def test_a_threshold_below_every_confidence_fills_each_block_in_one_pass() -> None:
    model, prompt = tiny_llada(), prompts()
    settings = DiffusionSettings.from_mode("threshold", gen_length=8, block_length=4, threshold=1e-9, mask_id=MASK)
    result = sample(TokenDenoiser(model, prompt, mask_id=MASK), 2, settings)
    assert MASK not in result.tokens.tolist()
    assert result.forward_passes == [2, 2]


def test_eos_early_stop_skips_the_remaining_blocks() -> None:
    model = tiny_llada()
    eos_bonus = torch.zeros(VOCAB)
    eos_bonus[EOS] = 30.0
    model.lm_head.register_forward_hook(lambda _module, _inputs, logits: logits + eos_bonus)  # the model wants to end
    prompt = prompts(batch=1)
    for mode in ("threshold", "prefix-cache", "threshold+dual-cache"):
        settings = DiffusionSettings.from_mode(
            mode, gen_length=12, block_length=4, steps=12, eos_stop=True, mask_id=MASK, eos_id=EOS
        )
        denoiser = ContextDenoiser(model, model.get_input_embeddings()(prompt), torch.ones_like(prompt))
        result = sample(denoiser, 1, settings)
        tokens = result.tokens[0].tolist()
        first_eos = tokens.index(EOS)
        assert first_eos < 4 and MASK not in tokens[:first_eos]
        assert set(tokens[first_eos:4]) == {EOS}  # the rest of the block is EOS
        assert set(tokens[4:]) == {MASK}  # later blocks are never run
        assert result.forward_passes[0] <= 4


def test_the_vectorised_factor_rule_counts_as_the_one_token_at_a_time_rule() -> None:
    generator = torch.Generator().manual_seed(0)
    settings = DiffusionSettings(gen_length=8, decoding="factor", factor=1.0)
    for _ in range(200):
        masked = int(torch.randint(1, 9, (1,), generator=generator))
        values = torch.rand(8, generator=generator, dtype=torch.float64) ** 0.2
        confidence = torch.full((1, 8), -torch.inf, dtype=torch.float64)
        confidence[0, :masked] = values[:masked]
        expected = factor_count(torch.sort(values[:masked], descending=True).values, 1.0)
        counts = factor_counts(confidence, torch.tensor([masked]), settings.factor)
        assert int(counts[0]) == expected


def clip(seconds: float, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(16_000 * seconds)) * 0.1).astype(np.float32)


FAST_DLLM = os.environ.get("DIFFA_EVAL_FAST_DLLM_GENERATE")
FAST_DLLM_FUNCTIONS = {"generate": "none", "generate_with_prefix_cache": "prefix", "generate_with_dual_cache": "dual"}


@pytest.mark.skipif(not FAST_DLLM, reason="set DIFFA_EVAL_FAST_DLLM_GENERATE to Fast-dLLM's llada/generate.py")
@pytest.mark.parametrize("function", list(FAST_DLLM_FUNCTIONS))
@pytest.mark.parametrize("confidences", ["spread", "tied"])
def test_without_the_eos_stop_tokens_and_forward_passes_equal_fast_dllm(function: str, confidences: str) -> None:
    """eos_stop=false is Fast-dLLM's rule (its generate functions never stop at EOS): same tokens,
    same number of forward passes, for its exact schedule and its threshold rule, with and without
    its caches, also when confidences tie (a position-blind model)."""
    reference_module = import_fast_dllm_generate(Path(str(FAST_DLLM)))
    package = sys.modules["fast_dllm_reference_model"]
    shapes = [(8, 8, 8), (8, 4, 4), (12, 4, 6), (16, 8, 4)]
    for seed, (gen, block, steps), threshold in itertools.product(range(2), shapes, [None, 0.9, 0.3]):
        reference, native = twin_backbones(package, seed, VOCAB, confidences == "tied", never_predict=MASK)
        prompt = prompts(batch=1, length=6 + 35 * seed, seed=seed)
        shape = {"steps": steps, "gen_length": gen, "block_length": block}
        expected, expected_passes = getattr(reference_module, function)(
            ReferenceLM(reference), prompt, mask_id=MASK, threshold=threshold, **shape
        )
        rule = "exact" if threshold is None else "threshold"
        settings = DiffusionSettings(
            **shape, decoding=rule, cache=FAST_DLLM_FUNCTIONS[function], threshold=threshold or 0.9, eos_stop=False
        )
        settings = dataclasses.replace(settings, mask_id=MASK, eos_id=EOS)
        denoiser = ContextDenoiser(native, native.get_input_embeddings()(prompt), torch.ones_like(prompt))
        result = sample(denoiser, 1, settings, row_length=prompt.shape[1] + gen)
        label = (seed, gen, block, steps, threshold)
        assert torch.equal(result.tokens, expected[:, prompt.shape[1] :]), label
        assert result.forward_passes == [expected_passes], label


@pytest.mark.parametrize(
    ("options", "stops"),
    [
        ({}, False),  # diffa-tiny decodes exact, which never stops early
        ({"decoding": "factor"}, True),  # DIFFA-2's rule stops at EOS
        ({"decoding": "threshold+dual-cache"}, True),
        ({"decoding": "threshold", "eos_stop": "false"}, False),  # Fast-dLLM's generate functions never stop
    ],
)
def test_every_sample_records_the_stop_rule_its_forward_passes_follow(options: dict[str, str], stops: bool) -> None:
    adapter = load_model(ModelSpec("diffa-tiny"), "cpu")
    request = GenerationRequest("a", "What is it?", clip(0.5))
    output = adapter.generate([request], GenerationConfig(max_new_tokens=4, options=options))[0]
    assert output.error is None and output.details["eos_stop"] is stops
