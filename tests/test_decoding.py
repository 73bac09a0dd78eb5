"""The masked-diffusion sampler: LLaDA's algorithm token for token, DIFFA-2's factor rule, validation."""

from __future__ import annotations

import importlib.util
import itertools
import os
import types

import pytest
import torch

from diffa_eval.decoding import DiffusionSettings, generate, transfer_schedule
from diffa_eval.errors import ConfigError

from .factor_rule import factor_count

VOCAB, MASK, EOS = 48, 47, 46


class TinyBidirectionalNet(torch.nn.Module):
    """A random bidirectional model with the interface LLaDA's sampler expects: `model(ids).logits`."""

    def __init__(self, seed: int, scale: float = 2.0, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.embed = torch.randn(VOCAB, 16, generator=generator).to(dtype)
        self.mix = (torch.randn(16, 16, generator=generator) / 4).to(dtype)
        self.head = (torch.randn(16, VOCAB, generator=generator) * scale).to(dtype)
        self.device = torch.device("cpu")

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> types.SimpleNamespace:
        position = torch.sin(torch.arange(input_ids.shape[1], dtype=self.embed.dtype) * 0.37)
        hidden = self.embed[input_ids] + position[None, :, None]
        weights = torch.softmax(hidden @ hidden.transpose(1, 2) / 4, dim=-1)
        if attention_mask is not None:
            weights = weights * attention_mask[:, None, :]
            weights = weights / weights.sum(-1, keepdim=True)
        hidden = torch.tanh(weights @ hidden @ self.mix) + hidden
        return types.SimpleNamespace(logits=hidden @ self.head)


def specification_sampler(
    model: TinyBidirectionalNet, prompt: torch.Tensor, gen_length: int, block_length: int, steps: int
) -> torch.Tensor:
    """LLaDA's greedy low-confidence remasking written out step by step, one position at a time."""
    sequence = prompt[0].tolist() + [MASK] * gen_length
    start = prompt.shape[1]
    steps_per_block = steps // (gen_length // block_length)
    for block in range(gen_length // block_length):
        block_start, block_end = start + block * block_length, start + (block + 1) * block_length
        masked = sum(token == MASK for token in sequence[block_start:block_end])
        counts = [
            masked // steps_per_block + (1 if step < masked % steps_per_block else 0) for step in range(steps_per_block)
        ]
        for count in counts:
            logits = model(torch.tensor([sequence])).logits[0].to(torch.float64)
            probabilities = torch.softmax(logits, dim=-1)
            candidates = []
            for position in range(block_start, block_end):
                if sequence[position] == MASK:
                    token = int(torch.argmax(logits[position]))
                    candidates.append((float(probabilities[position, token]), position, token))
            for _, position, token in sorted(candidates, key=lambda c: -c[0])[:count]:
                sequence[position] = token
    return torch.tensor([sequence])


@pytest.mark.parametrize(
    ("gen_length", "block_length", "steps"), [(8, 8, 8), (8, 4, 4), (12, 4, 6), (16, 8, 4), (6, 3, 2), (10, 10, 5)]
)
def test_greedy_decoding_matches_the_step_by_step_specification(gen_length: int, block_length: int, steps: int) -> None:
    for seed in range(3):
        model = TinyBidirectionalNet(seed)
        prompt = torch.randint(0, MASK, (1, 5 + seed), generator=torch.Generator().manual_seed(seed))
        expected = specification_sampler(model, prompt, gen_length, block_length, steps)
        produced = generate(model, prompt, steps=steps, gen_length=gen_length, block_length=block_length, mask_id=MASK)
        assert torch.equal(produced, expected)


def test_transfer_schedule_spreads_masked_tokens_evenly_front_loaded() -> None:
    assert transfer_schedule(torch.tensor([10, 3, 0]), 4).tolist() == [[3, 3, 2, 2], [1, 1, 1, 0], [0, 0, 0, 0]]


@pytest.mark.parametrize(
    ("confidences", "factor", "expected"),
    [
        ([0.1], 1.0, 1),  # always at least one
        ([0.9, 0.8, 0.76, 0.1, 0.05], 1.0, 3),  # 2nd >= 0.667, 3rd >= 0.75, 4th < 0.8
        ([0.99, 0.5, 0.4, 0.3], 1.0, 1),  # 2nd < 0.667 stops at one
        ([0.9, 0.9, 0.1], 1.0, 3),  # DIFFA-2 also commits the last token when only it fails
        ([0.99, 0.99, 0.99], 1.0, 3),
        ([0.9, 0.4, 0.1, 0.05], 2.0, 2),  # a larger factor lowers the bar: 2nd >= 0.333, 3rd >= 0.5
    ],
)
def test_factor_rule_commits_the_nth_token_while_confidence_clears_its_threshold(
    confidences: list[float], factor: float, expected: int
) -> None:
    assert factor_count(torch.tensor(sorted(confidences, reverse=True)), factor) == expected


def test_factor_decoding_stops_at_an_eos_with_nothing_masked_before_it() -> None:
    model = TinyBidirectionalNet(0, scale=6.0)
    model.head[:, EOS] += 20.0  # the model wants to end at once
    prompt = torch.randint(0, EOS, (1, 6), generator=torch.Generator().manual_seed(0))
    out = generate(model, prompt, steps=16, gen_length=16, block_length=4, mask_id=MASK, decoding="factor", eos_id=EOS)[
        0, 6:
    ]
    first_eos = out.tolist().index(EOS)
    assert MASK not in out[:first_eos].tolist()
    assert set(out[first_eos:4].tolist()) == {EOS}  # the rest of that block becomes EOS
    assert set(out[4:].tolist()) == {MASK}  # and later blocks are never decoded


@pytest.mark.parametrize(
    "settings",
    [
        {"gen_length": 10, "block_length": 4},
        {"gen_length": 8, "block_length": 4, "steps": 3},
        {"gen_length": 8, "remasking": "entropy"},
        {"gen_length": 8, "decoding": "fast"},
        {"gen_length": 8, "decoding": "factor", "cfg_scale": 1.0},
        {"gen_length": 0},
    ],
)
def test_impossible_settings_are_refused(settings: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        DiffusionSettings(**settings)  # type: ignore[arg-type]


def saturated_net(seed: int) -> TinyBidirectionalNet:
    """A model so sure of itself that most masked positions' float64 confidences are exactly 1.0: ties
    that only the order of LLaDA's topk decides. float64 logits, so that LLaDA's softmax (in the logits'
    dtype) computes the same confidences as the sampler's float64 one."""
    return TinyBidirectionalNet(seed, scale=40.0, dtype=torch.float64)


def test_the_saturated_model_ties_its_masked_positions_at_exactly_one() -> None:
    for seed in range(3):
        prompt = torch.randint(0, MASK, (1, 5 + seed), generator=torch.Generator().manual_seed(seed))
        canvas = torch.cat([prompt, torch.full((1, 8), MASK)], dim=1)
        confidence = torch.softmax(saturated_net(seed)(canvas).logits[0, -8:], dim=-1).max(dim=-1).values
        assert int((confidence == 1.0).sum()) >= 2


class PositionBlindNet(torch.nn.Module):
    """A float64 model that sees each token and the mean of the row, not positions: every masked
    position gets the same logits, so their confidences tie exactly at whatever value. It never
    predicts the mask token."""

    def __init__(self, seed: int, scale: float = 2.0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.embed = torch.randn(VOCAB, 16, generator=generator, dtype=torch.float64)
        self.mix = torch.randn(16, 16, generator=generator, dtype=torch.float64) / 4
        self.head = torch.randn(16, VOCAB, generator=generator, dtype=torch.float64) * scale
        self.bias = torch.zeros(VOCAB, dtype=torch.float64)
        self.bias[MASK] = -1e4
        self.device = torch.device("cpu")

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> types.SimpleNamespace:
        hidden = self.embed[input_ids]
        hidden = torch.tanh((hidden + hidden.mean(dim=1, keepdim=True)) @ self.mix)
        return types.SimpleNamespace(logits=hidden @ self.head + self.bias)


def whole_row_reference(
    model: torch.nn.Module,
    prompt: torch.Tensor,
    gen_length: int,
    block_length: int,
    steps: int,
    rule: str = "exact",
    factor: float = 1.0,
    threshold: float = 0.9,
) -> torch.Tensor:
    """Greedy decoding of one row with each commit chosen, as the references choose it, by `torch.topk`
    over the whole row of confidences (-inf outside the current block's masks): LLaDA's `exact`
    schedule; DIFFA-2's factor rule (k = the rule's count) with its EOS stop; Fast-dLLM's threshold
    rule (k = every masked position; the first, and the rest at or above the threshold)."""
    sequence = torch.cat([prompt[0], torch.full((gen_length,), MASK)])
    start = prompt.shape[1]
    per_block = steps // (gen_length // block_length)
    for block in range(gen_length // block_length):
        block_start, block_end = start + block * block_length, start + (block + 1) * block_length
        masked = int((sequence[block_start:block_end] == MASK).sum())
        schedule = transfer_schedule(torch.tensor([masked]), per_block)[0].tolist()
        step = 0
        while (sequence[block_start:block_end] == MASK).any() and (rule != "exact" or step < per_block):
            logits = model(sequence[None]).logits[0].to(torch.float64)
            tokens = logits.argmax(dim=-1)
            confidence = torch.softmax(logits, dim=-1).gather(-1, tokens[:, None])[:, 0]
            candidates = (sequence == MASK) & (torch.arange(len(sequence)) < block_end)
            confidence[~candidates] = -torch.inf
            if rule == "exact":
                chosen = torch.topk(confidence, schedule[step]).indices
            elif rule == "factor":
                ranked = torch.sort(confidence[candidates], descending=True).values
                chosen = torch.topk(confidence, factor_count(ranked, factor)).indices
            else:
                ranked_positions = torch.topk(confidence, int(candidates.sum())).indices
                keep = confidence[ranked_positions] >= threshold
                keep[0] = True
                chosen = ranked_positions[keep]
            sequence[chosen] = tokens[chosen]
            step += 1
            block_tokens = sequence[block_start:block_end]
            if rule == "factor" and (block_tokens == EOS).any():
                first_eos = int((block_tokens == EOS).nonzero()[0, 0])
                if not (block_tokens[:first_eos] == MASK).any():
                    sequence[block_start + first_eos : block_end] = EOS
                    return sequence[None]
    return sequence[None]


TIE_SHAPES = [(8, 8, 8), (8, 4, 4), (16, 8, 8), (16, 4, 8)]


@pytest.mark.parametrize(("gen_length", "block_length", "steps"), TIE_SHAPES)
def test_tied_confidences_commit_the_positions_topk_picks_over_the_whole_row(
    gen_length: int, block_length: int, steps: int
) -> None:
    """LLaDA ranks prompt and canvas together (prompt positions at -inf); which tied position topk
    returns depends on that row's length, so the sampler must rank the same row."""
    shape = {"steps": steps, "gen_length": gen_length, "block_length": block_length}
    for seed, prompt_length in itertools.product(range(3), [5, 40, 70]):
        prompt = torch.randint(0, EOS, (1, prompt_length), generator=torch.Generator().manual_seed(seed))
        for model in (saturated_net(seed), PositionBlindNet(seed)):
            expected = whole_row_reference(model, prompt, gen_length, block_length, steps)
            assert torch.equal(generate(model, prompt, mask_id=MASK, **shape), expected), (seed, prompt_length)


@pytest.mark.parametrize(("gen_length", "block_length", "steps"), TIE_SHAPES)
@pytest.mark.parametrize(("rule", "value"), [("factor", 1.0), ("factor", 2.0), ("threshold", 0.9), ("threshold", 0.3)])
def test_the_factor_and_threshold_rules_break_ties_as_their_references_do(
    gen_length: int, block_length: int, steps: int, rule: str, value: float
) -> None:
    shape = {"steps": steps, "gen_length": gen_length, "block_length": block_length}
    rule_settings = {"factor": value} if rule == "factor" else {"threshold": value}
    stop = {"eos_stop": rule == "factor"}  # DIFFA-2 stops at EOS, Fast-dLLM never does
    for seed, prompt_length in itertools.product(range(3), [5, 40, 70]):
        prompt = torch.randint(0, EOS, (1, prompt_length), generator=torch.Generator().manual_seed(seed))
        model = PositionBlindNet(seed)
        expected = whole_row_reference(model, prompt, gen_length, block_length, steps, rule, **rule_settings)
        produced = generate(model, prompt, mask_id=MASK, eos_id=EOS, decoding=rule, **shape, **rule_settings, **stop)
        assert torch.equal(produced, expected), (seed, prompt_length)


REFERENCE = os.environ.get("DIFFA_EVAL_LLADA_GENERATE")


@pytest.mark.skipif(not REFERENCE, reason="set DIFFA_EVAL_LLADA_GENERATE to a copy of LLaDA's generate.py")
@pytest.mark.parametrize(("confidences", "batch"), [("spread", 1), ("tied", 1), ("tied", 2)])
def test_outputs_equal_llada_reference_generate(confidences: str, batch: int) -> None:
    spec = importlib.util.spec_from_file_location("llada_reference_generate", REFERENCE)
    assert spec and spec.loader
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    shapes = [(8, 8, 8), (8, 4, 4), (12, 4, 6), (16, 8, 4), (16, 2, 16)]
    for seed, (gen, block, steps), remasking, temperature, cfg in itertools.product(
        range(3), shapes, ["low_confidence", "random"], [0.0, 0.7], [0.0, 1.5]
    ):
        model = TinyBidirectionalNet(seed) if confidences == "spread" else saturated_net(seed)
        prompt = torch.randint(0, MASK, (batch, 5 + seed), generator=torch.Generator().manual_seed(seed))
        mask = torch.ones_like(prompt)
        mask[1:, :2] = 0  # the second row is left-padded
        options = {"steps": steps, "gen_length": gen, "block_length": block, "temperature": temperature}
        options.update(cfg_scale=cfg, remasking=remasking, mask_id=MASK)
        torch.manual_seed(7)
        expected = reference.generate(model, prompt, attention_mask=mask, **options)
        torch.manual_seed(7)
        assert torch.equal(generate(model, prompt, attention_mask=mask, **options), expected)
