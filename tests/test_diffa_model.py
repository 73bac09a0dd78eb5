"""DIFFA on tiny random checkpoints written in the published layouts: loading, LoRA merge, prompts, batching."""

from __future__ import annotations

import copy
import importlib.util
import itertools
import json
import os
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from transformers import WhisperForConditionalGeneration
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from diffa_eval.decoding import DiffusionSettings
from diffa_eval.errors import CheckpointError
from diffa_eval.models import load_model
from diffa_eval.models.base import GenerationRequest
from diffa_eval.models.diffa.llada import LLADA_LORA_TARGETS, llada_module_to_native, llada_to_native_name
from diffa_eval.models.diffa.loading import DiffaSources, load_pipeline, merge_lora
from diffa_eval.models.diffa.pipeline import DiffaPipeline, split_prompt
from diffa_eval.models.diffa.tiny import (
    random_tiny_parts,
    tiny_diffa_config,
    tiny_llada_config,
    tiny_pipeline,
    tiny_tokenizer,
    tiny_whisper_config,
)
from diffa_eval.types import GenerationConfig, ModelSpec

from .factor_rule import factor_count

CPU = torch.device("cpu")
LLADA_MODULES = ("attn_norm", "ff_norm", "q_proj", "k_proj", "v_proj", "attn_out", "ff_proj", "up_proj", "ff_out")


def _llada_names(layers: int) -> dict[str, str]:
    """native name -> LLaDA checkpoint name."""
    names = ["model.transformer.wte.weight", "model.transformer.ln_f.weight", "model.transformer.ff_out.weight"]
    names += [f"model.transformer.blocks.{i}.{m}.weight" for i in range(layers) for m in LLADA_MODULES]
    return {str(llada_to_native_name(name)): name for name in names}


def write_checkpoints(root: Path, lora: bool) -> dict[str, Path]:
    """Whisper (safetensors), LLaDA (sharded safetensors, LLaDA names, tokenizer) and a DIFFA folder
    (config.json + pytorch_model.bin with adapters, plus LoRA tensors and a stage1/ folder when `lora`)."""
    audio, llm = random_tiny_parts(seed=3)
    whisper_dir, llada_dir, diffa_dir = root / "whisper", root / "llada", root / "diffa"
    whisper = WhisperForConditionalGeneration(tiny_whisper_config())
    whisper.model.encoder.load_state_dict(audio.whisper_model.state_dict())
    whisper.save_pretrained(whisper_dir)

    llada_dir.mkdir()
    (llada_dir / "config.json").write_text(json.dumps(tiny_llada_config()))
    renames = _llada_names(2)
    state = {renames[k]: v.contiguous() for k, v in llm.state_dict().items()}
    shards: list[dict[str, torch.Tensor]] = [{}, {}]
    for index, (name, tensor) in enumerate(sorted(state.items())):
        shards[index % 2][name] = tensor
    weight_map = {}
    for number, shard in enumerate(shards, start=1):
        filename = f"model-0000{number}-of-00002.safetensors"
        save_file(shard, str(llada_dir / filename))
        weight_map.update(dict.fromkeys(shard, filename))
    (llada_dir / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    tiny_tokenizer().save_pretrained(llada_dir)

    adapters = {k: v for k, v in audio.state_dict().items() if not k.startswith("whisper_model.")}
    diffa_dir.mkdir()
    (diffa_dir / "config.json").write_text(json.dumps(tiny_diffa_config()))
    saved = dict(adapters)
    if lora:
        generator = torch.Generator().manual_seed(5)
        for layer in range(2):
            for module, (out_dim, in_dim) in {
                "q_proj": (32, 32),
                "k_proj": (32, 32),
                "v_proj": (32, 32),
                "ff_proj": (64, 32),
                "up_proj": (64, 32),
            }.items():
                prefix = f"llm_model.base_model.model.model.transformer.blocks.{layer}.{module}"
                saved[f"{prefix}.lora_A.default.weight"] = torch.randn(8, in_dim, generator=generator)
                saved[f"{prefix}.lora_B.default.weight"] = torch.randn(out_dim, 8, generator=generator)
        (diffa_dir / "stage1").mkdir()
        (diffa_dir / "stage1" / "config.json").write_text(json.dumps(tiny_diffa_config()))
        torch.save(adapters, diffa_dir / "stage1" / "pytorch_model.bin")
    torch.save(saved, diffa_dir / "pytorch_model.bin")
    return {"whisper": whisper_dir, "llada": llada_dir, "diffa": diffa_dir, "saved": saved, "llm": llm}  # type: ignore[dict-item]


@pytest.fixture(scope="module")
def diffa2(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_checkpoints(tmp_path_factory.mktemp("diffa2"), lora=True)


def clip(seconds: float, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(16_000 * seconds)) * 0.1).astype(np.float32)


def test_a_diffa2_checkpoint_loads_with_its_lora_merged_into_the_llada_weights(diffa2: dict) -> None:
    sources = DiffaSources(checkpoint=str(diffa2["diffa"]), whisper=str(diffa2["whisper"]), llm=str(diffa2["llada"]))
    pipeline = load_pipeline(sources, CPU)
    saved, base = diffa2["saved"], diffa2["llm"]
    prefix = "llm_model.base_model.model.model.transformer.blocks.1"
    lora_a, lora_b = saved[f"{prefix}.ff_proj.lora_A.default.weight"], saved[f"{prefix}.ff_proj.lora_B.default.weight"]
    expected = base.model.layers[1].mlp.gate_proj.weight + (16 / 8) * lora_b @ lora_a
    torch.testing.assert_close(pipeline.llm.model.layers[1].mlp.gate_proj.weight, expected)
    torch.testing.assert_close(
        pipeline.llm.model.layers[0].mlp.down_proj.weight, base.model.layers[0].mlp.down_proj.weight
    )
    torch.testing.assert_close(
        pipeline.audio.acoustic_connector.layer_weights, saved["acoustic_connector.layer_weights"]
    )
    result = pipeline.generate([clip(1.2)], ["Describe the sound."], DiffusionSettings(gen_length=4, decoding="factor"))
    assert len(result[0].tokens) == 4 and 1 <= result[0].forward_passes <= 4


def test_the_diffa2_preset_runs_end_to_end_from_local_folders(diffa2: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIFFA_EVAL_LLADA", str(diffa2["llada"]))
    monkeypatch.setenv("DIFFA_EVAL_WHISPER", str(diffa2["whisper"]))
    adapter = load_model(ModelSpec("diffa-2", str(diffa2["diffa"])), "cpu")
    requests = [GenerationRequest("a", "What is it?", clip(0.7)), GenerationRequest("b", "Why?", None)]
    outputs = adapter.generate(requests, GenerationConfig(max_new_tokens=4))
    assert outputs[0].error is None and outputs[0].forward_passes and outputs[0].encode_seconds is not None
    assert outputs[0].details["decoding"]["decoding"] == "factor"
    assert outputs[1].error and "audio" in outputs[1].error
    assert adapter.info()["llm"] == str(diffa2["llada"])

    asr = load_model(ModelSpec("diffa-2-asr", str(diffa2["diffa"] / "stage1")), "cpu")
    assert asr.generate([requests[0]], GenerationConfig(max_new_tokens=4))[0].error is None


def test_missing_pieces_are_named(diffa2: dict, tmp_path: Path) -> None:
    good = DiffaSources(checkpoint=str(diffa2["diffa"]), whisper=str(diffa2["whisper"]), llm=str(diffa2["llada"]))
    with pytest.raises(CheckpointError, match="no-such-owner/no-such-model"):
        load_pipeline(DiffaSources(**{**good.__dict__, "llm": "no-such-owner/no-such-model"}), CPU)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text(json.dumps(tiny_diffa_config()))
    with pytest.raises(CheckpointError, match=r"pytorch_model\.bin"):
        load_pipeline(DiffaSources(**{**good.__dict__, "checkpoint": str(empty)}), CPU)
    broken = tmp_path / "llada"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps(tiny_llada_config()))
    with pytest.raises(CheckpointError, match=r"model\.safetensors"):
        load_pipeline(DiffaSources(**{**good.__dict__, "llm": str(broken)}), CPU)


def test_a_diffa_v1_layout_with_bin_whisper_weights_loads(tmp_path: Path) -> None:
    paths = write_checkpoints(tmp_path, lora=False)
    whisper = paths["whisper"]
    state = WhisperForConditionalGeneration.from_pretrained(whisper).state_dict()
    (whisper / "model.safetensors").unlink()
    torch.save(state, whisper / "pytorch_model.bin")
    sources = DiffaSources(checkpoint=str(paths["diffa"]), whisper=str(whisper), llm=str(paths["llada"]))
    pipeline = load_pipeline(sources, CPU)
    torch.testing.assert_close(pipeline.llm.lm_head.weight, paths["llm"].lm_head.weight)


def test_audio_is_spliced_right_after_this_is_the_audio() -> None:
    tokenizer = tiny_tokenizer()
    before, after = split_prompt(tokenizer, "Name the bird.")
    assert tokenizer.decode(before).endswith("user<|end_header_id|>\n\nThis is the audio:")
    assert tokenizer.decode(after).startswith(" <audio>. Name the bird.<|eot_id|><|start_header_id|>assistant")
    assert tokenizer.decode(before).startswith("<|startoftext|><|start_header_id|>system<|end_header_id|>\n\n")


def test_audio_tokens_are_64_acoustic_then_12_5_semantic_per_second() -> None:
    pipeline = tiny_pipeline(CPU)
    features, frames = pipeline.features([clip(2.0), clip(40.0)])
    embeddings = pipeline.audio.embed(features, frames, stage=2)
    assert [len(e) for e in embeddings] == [64 + 25, 64 + 375]  # the 40 s clip is read up to 30 s
    assert [len(e) for e in pipeline.audio.embed(features, frames, stage=1)] == [20 + 25, 20 + 375]


def test_whisper_taps_are_the_transformers_encoder_states() -> None:
    pipeline = tiny_pipeline(CPU)
    features, _ = pipeline.features([clip(1.0)])
    encoder = WhisperEncoder(tiny_whisper_config()).eval()
    encoder.load_state_dict(pipeline.audio.whisper_model.state_dict())
    reference = encoder(features, output_hidden_states=True)
    states, final = pipeline.audio.whisper_states(features)
    torch.testing.assert_close(final, reference.last_hidden_state)
    for index in range(len(states) - 1):
        torch.testing.assert_close(states[index], reference.hidden_states[index])


@pytest.mark.parametrize("decoding", ["exact", "factor"])
def test_a_batch_decodes_exactly_like_one_clip_at_a_time(decoding: str) -> None:
    pipeline = tiny_pipeline(CPU, seed=1)
    clips = [clip(0.6, 1), clip(2.9, 2), clip(5.3, 3)]
    prompts = ["Short?", "A somewhat longer question about the clip?", "Mid length one?"]
    settings = DiffusionSettings(gen_length=8, block_length=4, decoding=decoding)
    batched = pipeline.generate(clips, prompts, settings)
    alone = [pipeline.generate([c], [p], settings)[0] for c, p in zip(clips, prompts, strict=True)]
    assert [r.tokens for r in batched] == [r.tokens for r in alone]
    assert [r.forward_passes for r in batched] == [r.forward_passes for r in alone]
    assert len({tuple(r.tokens) for r in batched}) > 1  # the rows really differ


def test_the_encoder_window_is_declared_so_the_runner_cuts_or_skips_longer_audio(tmp_path: Path) -> None:
    from diffa_eval.run import RunOptions, evaluate
    from diffa_eval.store import read_run
    from diffa_eval.task import TASKS

    adapter = load_model(ModelSpec("diffa-tiny"), "cpu")
    assert adapter.max_audio_seconds == 30.0
    options = RunOptions(split="sample", output_dir=tmp_path, generation={"max_new_tokens": 2})
    outcome = evaluate([ModelSpec("diffa-tiny")], [TASKS.get("mmar")], options)[0]
    assert outcome.run_dir is not None and outcome.metrics is not None and outcome.metrics.n_failed == 0
    cut = [r for r in read_run(outcome.run_dir).records() if r.audio_truncated_to is not None]
    assert [(r.audio_seconds > 30, r.audio_truncated_to) for r in cut] == [(True, 30.0)]


def test_the_cli_runs_diffa_tiny_on_the_mmau_sample(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from diffa_eval.cli import app

    args = ["run", "--models", "diffa-tiny", "--tasks", "mmau_test_mini", "--split", "sample"]
    result = CliRunner().invoke(app, [*args, "--max-new-tokens", "4", "--output-dir", str(tmp_path), "-q"])
    assert result.exit_code == 0, result.output
    [samples] = list(tmp_path.glob("diffa-tiny/mmau_test_mini-sample-*/samples.jsonl"))
    records = [json.loads(line) for line in samples.read_text().splitlines()]
    assert len(records) == 10 and all(r["error"] is None for r in records)
    assert all(r["forward_passes"] == 4 and r["encode_seconds"] is not None for r in records)
    assert records[0]["model_details"]["decoding"]["steps"] == 4


def test_an_unknown_or_malformed_decoding_option_is_refused_rather_than_ignored() -> None:
    from diffa_eval.errors import ConfigError
    from diffa_eval.models.diffa.adapter import PRESETS, decoding_settings

    preset = PRESETS["diffa"]
    with pytest.raises(ConfigError, match="does not take the option"):
        decoding_settings(GenerationConfig(max_new_tokens=8, options={"decodng": "threshold"}), preset)
    with pytest.raises(ConfigError, match="eos_stop must be true or false, got 'no'"):
        decoding_settings(
            GenerationConfig(max_new_tokens=8, options={"decoding": "threshold", "eos_stop": "no"}), preset
        )
    settings = decoding_settings(GenerationConfig(max_new_tokens=8, options={"eos_stop": "False"}), preset)
    assert settings.eos_stop is False


TIE_CASES = [((8, 8, 8), 1.0, "What is it?"), ((8, 4, 4), 2.3, "Name the sound."), ((16, 8, 8), 0.7, "Why?")]


def bf16_pipeline(seed: int, position_blind: bool) -> DiffaPipeline:
    """The tiny DIFFA in bfloat16, as DIFFA runs; `position_blind` zeroes the backbone's query and key
    projections, so attention is uniform and all masked positions tie exactly."""
    pipeline = tiny_pipeline(CPU, seed=seed)
    pipeline.llm.to(torch.bfloat16)
    if position_blind:
        with torch.no_grad():
            for layer in pipeline.llm.model.layers:
                layer.self_attn.q_proj.weight.zero_()
                layer.self_attn.k_proj.weight.zero_()
    return pipeline


def diffa2_factor_reference(
    pipeline: DiffaPipeline, audio: np.ndarray, question: str, gen_length: int, block_length: int, factor: float
) -> list[int]:
    """DIFFA-2's factor decoding of one clip, as its sampler does it: the row is prompt, audio (as
    placeholder tokens) and canvas; each pass commits the rule's count of tokens, chosen by
    `torch.topk` over that whole row; it stops at an EOS with nothing masked before it."""
    features, frames = pipeline.features([audio])
    speech = pipeline.audio.embed(features, frames, pipeline.stage)[0].to(torch.bfloat16)
    before, after = split_prompt(pipeline.tokenizer, question)
    mask, eos, embed = pipeline.mask_id, pipeline.eos_id, pipeline.llm.get_input_embeddings()
    tokens = torch.tensor(before + [1] * len(speech) + after + [mask] * gen_length)
    embeds = embed(tokens)
    embeds[len(before) : len(before) + len(speech)] = speech
    canvas_start = len(tokens) - gen_length
    with torch.no_grad():
        for block in range(gen_length // block_length):
            block_start = canvas_start + block * block_length
            block_end = block_start + block_length
            while (tokens[block_start:block_end] == mask).any():
                logits = pipeline.llm(inputs_embeds=embeds[None]).logits[0].to(torch.float64)
                predicted = logits.argmax(dim=-1)
                confidence = torch.softmax(logits, dim=-1).gather(-1, predicted[:, None])[:, 0]
                candidates = (tokens == mask) & (torch.arange(len(tokens)) < block_end)
                confidence[~candidates] = -torch.inf
                count = factor_count(torch.sort(confidence[candidates], descending=True).values, factor)
                chosen = torch.topk(confidence, count).indices
                tokens[chosen] = predicted[chosen]
                embeds[chosen] = embed(tokens[chosen])
                current = tokens[block_start:block_end]
                if (current == eos).any():
                    first_eos = int((current == eos).nonzero()[0, 0])
                    if not (current[:first_eos] == mask).any():
                        tokens[block_start + first_eos : block_end] = eos
                        return tokens[canvas_start:].tolist()
    return tokens[canvas_start:].tolist()


def test_factor_decoding_ranks_ties_over_prompt_audio_and_canvas_as_diffa2_does() -> None:
    """All masked positions tie; a factor of 8 commits 7 of 16 of them at once, where topk's choice
    among ties depends on the row it ranks (prompt, audio and canvas in DIFFA-2)."""
    factor = 8.0
    for seed in range(2):
        pipeline = bf16_pipeline(seed, position_blind=True)
        for (gen, block), seconds, question in [((16, 16), 1.0, "What is it?"), ((8, 4), 2.3, "Name the sound.")]:
            audio = clip(seconds, seed)
            settings = DiffusionSettings(gen_length=gen, block_length=block, decoding="factor", factor=factor)
            produced = pipeline.generate([audio], [question], settings)[0].tokens
            expected = diffa2_factor_reference(pipeline, audio, question, gen, block, factor)
            assert produced == expected, (seed, gen, block)


DIFFA_GENERATE = os.environ.get("DIFFA_EVAL_DIFFA_GENERATE")


@pytest.mark.skipif(not DIFFA_GENERATE, reason="set DIFFA_EVAL_DIFFA_GENERATE to a copy of DIFFA's src/llm_generate.py")
@pytest.mark.parametrize("position_blind", [False, True])
def test_exact_decoding_equals_diffa_reference_sampler(position_blind: bool) -> None:
    """DIFFA's own sampler (LLaDA's, with the audio spliced in and its positions dropped from the
    ranked row) on the same tiny bfloat16 model: the same tokens, ties included."""
    spec = importlib.util.spec_from_file_location("diffa_reference_generate", str(DIFFA_GENERATE))
    assert spec and spec.loader
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    for seed in range(3):
        pipeline = bf16_pipeline(seed, position_blind)
        model = types.SimpleNamespace(device=CPU, llm_model=pipeline.llm)
        for (gen, block, steps), seconds, question in TIE_CASES:
            audio = clip(seconds, seed)
            settings = DiffusionSettings(gen_length=gen, block_length=block, steps=steps)
            produced = pipeline.generate([audio], [question], settings)[0].tokens
            features, frames = pipeline.features([audio])
            speech = pipeline.audio.embed(features, frames, pipeline.stage)[0][None].to(torch.bfloat16)
            before, after = split_prompt(pipeline.tokenizer, question)
            options = {"steps": steps, "gen_length": gen, "block_length": block, "mask_id": pipeline.mask_id}
            expected = reference.generate(
                model, torch.tensor([before + after]), torch.tensor([len(before)]), speech, **options
            )
            assert produced == expected[0, len(before) + len(after) :].tolist(), (seed, gen, block)


def float32_lora(seed: int = 11, layers: int = 2) -> dict[str, torch.Tensor]:
    """LoRA tensors as DIFFA-2 saves them (float32, PEFT's default, keyed under `llm_model.`), rank 8."""
    generator = torch.Generator().manual_seed(seed)
    shapes = {"q_proj": (32, 32), "k_proj": (32, 32), "v_proj": (32, 32), "ff_proj": (64, 32), "up_proj": (64, 32)}
    tensors = {}
    for layer, (module, (out_dim, in_dim)) in itertools.product(range(layers), shapes.items()):
        prefix = f"llm_model.base_model.model.model.transformer.blocks.{layer}.{module}"
        tensors[f"{prefix}.lora_A.default.weight"] = torch.randn(8, in_dim, generator=generator) * 0.3
        tensors[f"{prefix}.lora_B.default.weight"] = torch.randn(out_dim, 8, generator=generator) * 0.3
    return tensors


def peft_merged(base: torch.nn.Module, lora: dict[str, torch.Tensor]) -> torch.nn.Module:
    """PEFT's own merge, set up as DIFFA-2's loader sets it up: the LoRA wrapped around the bfloat16
    backbone (PEFT keeps the adapters in float32), the checkpoint's tensors loaded, merge_and_unload."""
    from peft import LoraConfig, get_peft_model

    natives = {module: llada_module_to_native(0, module).split(".", 3)[3] for module in LLADA_LORA_TARGETS}
    config = LoraConfig(r=8, lora_alpha=16, target_modules=sorted(natives.values()), lora_dropout=0.05, bias="none")
    wrapped = get_peft_model(base, config)
    state = {}
    for name, tensor in lora.items():
        layer, module, half = name.split(".blocks.")[1].split(".")[:3]
        state[f"base_model.model.{llada_module_to_native(int(layer), module)}.{half}.default.weight"] = tensor
    assert not wrapped.load_state_dict(state, strict=False).unexpected_keys
    merged: torch.nn.Module = wrapped.merge_and_unload()
    return merged


@pytest.mark.parametrize("saved_dtype", [torch.float32, torch.bfloat16])
def test_lora_merges_into_a_bfloat16_backbone_bit_for_bit_as_peft_merges_it(saved_dtype: torch.dtype) -> None:
    """B @ A is computed in float32 (PEFT's adapter dtype) and each merged weight rounded to bfloat16
    once, whether the checkpoint saved the LoRA tensors in float32 (PEFT's default) or bfloat16."""
    _, base = random_tiny_parts(seed=3)
    base = base.to(torch.bfloat16)
    lora = {name: tensor.to(saved_dtype) for name, tensor in float32_lora().items()}
    expected = peft_merged(copy.deepcopy(base), lora).state_dict()
    merged = merge_lora(copy.deepcopy(base), lora, alpha=16.0).state_dict()
    assert merged.keys() == expected.keys()
    differing = {name: int((merged[name] != expected[name]).sum()) for name in expected}
    assert sum(differing.values()) == 0, {name: count for name, count in differing.items() if count}
    assert all(tensor.dtype == torch.bfloat16 for tensor in merged.values())
