"""Any transformers audio chat model by hub id or folder (`hf@...`), load settings (`--model-args`) with their part in
a model's identity, remote code only when allowed, and `--batch-size auto` halving on out-of-memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from diffa_eval.cli import app
from diffa_eval.errors import ConfigError
from diffa_eval.models import load_model, with_backend, with_model_args
from diffa_eval.models.model_args import parse_model_args
from diffa_eval.models.presets import audio_chat_preset
from diffa_eval.models.tiny import tiny_audio_chat
from diffa_eval.run import RunOptions, evaluate
from diffa_eval.run.plan import spec_identity
from diffa_eval.store import read_run
from diffa_eval.task import TASKS
from diffa_eval.types import ModelSpec

from .mock_model import Script, registered

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()


@pytest.fixture(scope="module")
def saved_tiny_qwen2_audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random Qwen2-Audio of `qwen2-audio-tiny`, saved with its processor as a fine-tune would be."""
    folder = tmp_path_factory.mktemp("tiny-qwen2-audio")
    built = tiny_audio_chat(audio_chat_preset("qwen2-audio-tiny"))
    built.model.save_pretrained(folder)
    built.processor.save_pretrained(folder)
    return folder


def _outputs(run_dir: Path) -> dict[str, str | None]:
    return {record.sample_id: record.output for record in read_run(run_dir).records()}


def test_a_saved_tiny_audio_chat_model_runs_through_hf_from_the_command_line(
    saved_tiny_qwen2_audio: Path, tmp_path: Path
) -> None:
    model = f"hf@{saved_tiny_qwen2_audio}"
    done = subprocess.run(
        [sys.executable, "-m", "diffa_eval", "run", "-m", f"{model},qwen2-audio-tiny", "-t", "mmau_test_mini",
         "--split", "sample", "--model-args", "dtype=float32", "--max-new-tokens", "8", "--output-dir",
         str(tmp_path), "-q"],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{model} · mmau_test_mini (sample): 10 generated, 0 reused, 0 failed" in " ".join(done.stdout.split())
    (hf_run,) = [read_run(path.parent) for path in tmp_path.glob("hf@*/*/manifest.json")]
    (preset_run,) = [read_run(path.parent) for path in tmp_path.glob("qwen2-audio-tiny/*/manifest.json")]
    manifest = hf_run.manifest
    assert manifest.model == model and manifest.status == "complete"
    assert manifest.model_info["architecture"] == "Qwen2AudioForConditionalGeneration"
    assert manifest.model_info["processor"] == "Qwen2AudioProcessor"
    assert manifest.model_info["model_args"] == {"dtype": "float32"}
    assert manifest.model_info["dtype"] == "float32"
    assert manifest.variant is not None and manifest.variant.settings["model_args"] == {"dtype": "float32"}
    assert hf_run.metrics is not None and hf_run.metrics.n_failed == 0
    # the same weights, processor, chat template and prompts answer exactly as the preset that built them
    assert _outputs(hf_run.directory) == _outputs(preset_run.directory)


def test_hf_takes_the_audio_window_of_its_processor_and_the_shortest_clip_of_its_family(
    saved_tiny_qwen2_audio: Path,
) -> None:
    spec = with_model_args(ModelSpec("hf", checkpoint=str(saved_tiny_qwen2_audio)), {"dtype": "float32"})
    adapter = load_model(spec, "cpu")
    preset = audio_chat_preset("qwen2-audio-instruct")
    assert adapter.max_audio_seconds == 30.0  # Whisper's feature extractor window
    assert getattr(adapter, "min_audio_samples", 0) == preset.min_audio_samples
    assert adapter.prompt_variants == ()  # the task's own prompts: a fine-tune is not its base model
    adapter.close()


def test_hf_needs_a_checkpoint() -> None:
    with pytest.raises(ConfigError, match=r"hf@OWNER/NAME"):
        load_model(ModelSpec("hf"), "cpu")


def test_hf_names_an_architecture_transformers_does_not_have(tmp_path: Path) -> None:
    config = {"model_type": "qwen2_audio", "architectures": ["MadeUpAudioChatForConditionalGeneration"]}
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="MadeUpAudioChatForConditionalGeneration, which transformers"):
        load_model(ModelSpec("hf", checkpoint=str(tmp_path)), "cpu")


@pytest.fixture
def remote_code_checkpoint(saved_tiny_qwen2_audio: Path, tmp_path: Path) -> Path:
    """The tiny Qwen2-Audio as a checkpoint that ships its own model class (loaded only through remote code)."""
    folder = tmp_path / "custom"
    folder.mkdir()
    for path in saved_tiny_qwen2_audio.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    config = json.loads((folder / "config.json").read_text())
    config["architectures"] = ["CustomAudioChat"]
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_custom.CustomAudioChat"}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "modeling_custom.py").write_text(
        "from transformers import Qwen2AudioForConditionalGeneration\n\n\n"
        "class CustomAudioChat(Qwen2AudioForConditionalGeneration):\n"
        "    pass\n"
    )
    return folder


def test_remote_code_is_refused_unless_allowed(remote_code_checkpoint: Path, tmp_path: Path) -> None:
    output = tmp_path / "runs"
    with pytest.raises(ConfigError, match="--allow-remote-code"):
        parse_model_args(["trust_remote_code=true"])
    with pytest.raises(ConfigError, match="ships its own code"):  # never loaded behind the user's back
        load_model(ModelSpec("hf", checkpoint=str(remote_code_checkpoint)), "cpu")
    args = ["run", "-m", f"hf@{remote_code_checkpoint}", "-t", "mmau_test_mini", "--split", "sample", "--limit", "2"]
    args += ["--model-args", "trust_remote_code=true", "--output-dir", str(output), "-q"]
    refused = runner.invoke(app, args)
    assert refused.exit_code != 0 and "--allow-remote-code" in str(refused.exception)
    assert not output.exists()
    allowed = runner.invoke(app, [*args, "--allow-remote-code"])
    assert allowed.exit_code == 0, allowed.output
    (manifest,) = [read_run(path.parent).manifest for path in output.glob("*/*/manifest.json")]
    assert manifest.model_info["architecture"] == "CustomAudioChat"
    assert manifest.model_info["model_args"] == {"trust_remote_code": True}
    assert manifest.variant is not None and "model_args" not in manifest.variant.settings  # a permission only


def test_model_args_are_checked_with_did_you_mean() -> None:
    assert parse_model_args(["dtype=bf16,attn_implementation=sdpa", "revision=v1.0"]) == {
        "dtype": "bfloat16",
        "attn_implementation": "sdpa",
        "revision": "v1.0",
    }
    with pytest.raises(ConfigError, match="did you mean dtype"):
        parse_model_args(["dtpye=float32"])
    with pytest.raises(ConfigError, match="did you mean sdpa"):
        parse_model_args(["attn_implementation=spda"])
    with pytest.raises(ConfigError, match="float32, bfloat16, float16, auto"):
        parse_model_args(["dtype=int3"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_model_args(["float32"])


def test_dtype_revision_and_attention_are_part_of_the_identity_placement_is_not() -> None:
    plain = ModelSpec("qwen2-audio-instruct", checkpoint="/ckpt/a")
    identity = spec_identity(plain)
    assert identity == "qwen2-audio-instruct@/ckpt/a"  # runs without model args keep their ids and keys
    for changing in ("dtype=bfloat16", "revision=abc123", "attn_implementation=eager"):
        assert spec_identity(with_model_args(plain, parse_model_args([changing]))) != identity
    placed = with_model_args(plain, parse_model_args(["device_map=auto"]))
    assert dict(placed.model_args) == {"device_map": "auto"}  # given to the loader ...
    assert spec_identity(placed) == identity  # ... but the same computation, placed elsewhere


def test_model_args_leave_weightless_models_alone_and_are_refused_off_transformers() -> None:
    assert with_model_args(ModelSpec("chance"), {"dtype": "float32"}) == ModelSpec("chance")
    vllm = with_backend(ModelSpec("qwen2-audio-instruct"), "vllm")
    with pytest.raises(ConfigError, match="transformers-backed"):
        with_model_args(vllm, {"dtype": "float32"})


def test_a_model_built_in_code_refuses_load_settings_it_cannot_apply() -> None:
    spec = with_model_args(ModelSpec("qwen2-audio-tiny"), {"device_map": "auto"})
    with pytest.raises(ConfigError, match=r"cannot apply model arg.*device_map"):
        load_model(spec, "cpu")
    diffa = with_model_args(ModelSpec("diffa-tiny"), {"revision": "main"})
    with pytest.raises(ConfigError, match=r"cannot apply model arg.*revision"):
        load_model(diffa, "cpu")


def test_runs_with_other_output_changing_model_args_get_their_own_directory_and_row(tmp_path: Path) -> None:
    task = [TASKS.get("mmau_test_mini")]
    options = {"split": "sample", "limit": 2, "output_dir": tmp_path, "generation": {"max_new_tokens": 4}}
    eager_options = RunOptions(**options, model_args={"attn_implementation": "eager"})
    eager = evaluate([ModelSpec("qwen2-audio-tiny")], task, eager_options)
    default = evaluate([ModelSpec("qwen2-audio-tiny")], task, RunOptions(**options))
    assert eager[0].run_dir != default[0].run_dir
    assert default[0].generated == 2  # nothing reused across the two
    manifest = read_run(eager[0].run_dir).manifest  # type: ignore[arg-type]
    assert manifest.model_info["attention"] == "eager"
    assert manifest.variant is not None and "attn_implementation=eager" in manifest.variant.label


def test_auto_batch_size_halves_on_out_of_memory_and_records_what_fitted(tmp_path: Path) -> None:
    with registered(Script(name="gpu-bound", out_of_memory_above=4)) as record:
        options = RunOptions(split="sample", output_dir=tmp_path, batch_size="auto")
        (outcome,) = evaluate([ModelSpec("gpu-bound")], [TASKS.get("mmau_test_mini")], options)
    assert outcome.metrics is not None and outcome.metrics.n_failed == 0 and outcome.generated == 10
    # 10 samples: the batch of 10 runs out of memory, then 5 does, then batches of 2 fit
    assert [len(call) for call in record.calls] == [10, 5, 2, 2, 2, 2, 2]
    batching = read_run(outcome.run_dir).manifest.batching  # type: ignore[arg-type]
    assert batching == {"batch_size": "auto", "start": 64, "fitted": 2, "out_of_memory_at": [10, 5]}


def test_auto_batch_size_gives_the_longest_clips_first(tmp_path: Path) -> None:
    with registered(Script(name="gpu-bound", out_of_memory_above=3)) as record:
        options = RunOptions(split="sample", output_dir=tmp_path, batch_size="auto")
        (outcome,) = evaluate([ModelSpec("gpu-bound")], [TASKS.get("mmau_test_mini")], options)
    seconds = {r.sample_id: r.audio_seconds or 0.0 for r in read_run(outcome.run_dir).records()}  # type: ignore[arg-type]
    answered = [sample_id for call in record.calls[2:] for sample_id in call]  # after two halvings
    assert [seconds[s] for s in answered] == sorted((seconds[s] for s in answered), reverse=True)


def test_a_fixed_batch_size_does_not_halve_but_retries_one_by_one(tmp_path: Path) -> None:
    with registered(Script(name="gpu-bound", out_of_memory_above=4)) as record:
        options = RunOptions(split="sample", output_dir=tmp_path, batch_size=8)
        (outcome,) = evaluate([ModelSpec("gpu-bound")], [TASKS.get("mmau_test_mini")], options)
    assert [len(call) for call in record.calls] == [8, *[1] * 8, 2]
    assert read_run(outcome.run_dir).manifest.batching == {"batch_size": 8}  # type: ignore[arg-type]


def test_a_single_sample_too_big_for_the_device_fails_alone(tmp_path: Path) -> None:
    with registered(Script(name="gpu-bound", out_of_memory_above=0)) as record:
        options = RunOptions(split="sample", limit=3, output_dir=tmp_path, batch_size="auto")
        (outcome,) = evaluate([ModelSpec("gpu-bound")], [TASKS.get("mmau_test_mini")], options)
    assert [len(call) for call in record.calls] == [3, 1, 1, 1]
    records = read_run(outcome.run_dir).records()  # type: ignore[arg-type]
    assert all(r.error is not None and "OutOfMemoryError" in r.error for r in records)


def test_batch_size_on_the_command_line_is_a_number_or_auto(tmp_path: Path) -> None:
    args = ["run", "-m", "chance", "-t", "mmau_test_mini", "--split", "sample", "--output-dir", str(tmp_path), "-q"]
    assert runner.invoke(app, [*args, "--batch-size", "auto"]).exit_code == 0
    (manifest,) = [read_run(path.parent).manifest for path in tmp_path.glob("*/*/manifest.json")]
    assert manifest.batching is not None and manifest.batching["batch_size"] == "auto"
    for bad in ("0", "many"):
        result = runner.invoke(app, [*args, "--batch-size", bad])
        assert result.exit_code != 0 and "number >= 1 or 'auto'" in str(result.exception)
