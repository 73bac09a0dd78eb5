"""Compare diffa-eval's MMSU scoring and prompts with the official and DIFFA's code, item by item.

    python scripts/parity_mmsu.py /path/to/MMSU [--diffa /path/to/DIFFA] [--items 3000] [--seed 7]

Writes varied responses (letters, "(B)", "Answer: C", lowercase, explanations, empty, "None",
missing keys, and values that are not text: null, numbers, lists) for synthetic items, among
them two-option items (`choice_c`/`choice_d` null or absent), items whose answer is none of
their options and items with a repeated option. It then compares, record by record:

- `accuracy` (score of each record, and overall) with the official `mmsu_evaluation.py`;
- the `official` prompt with the one the official `mmsu_inference.py` builds;
- with `--diffa` (a checkout of NKU-HLT/DIFFA, DIFFA-1 at its root): `accuracy_strict` with
  DIFFA's `mmsu/evaluate.py`, and the `diffa` prompt with the one `inference_stage2_mmsu.py` builds.

The official and DIFFA scripts run unchanged; their model, audio and hub calls are replaced by
stand-ins, and each prompt is read from the script's own `instruction` variable. Prints the
agreement and exits non-zero on any disagreement. Needs those checkouts, which are not shipped.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.machinery
import importlib.util
import io
import json
import random
import sys
import tempfile
import types
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

from diffa_eval.predictions import score_file
from diffa_eval.task import TASKS

CELLS = [(c, s) for c in ("perception", "reasoning") for s in ("semantics", "phonology", "paralinguistics")]
WORDS = ["red", "blue", "Apple", "banana", "A cat", "Bright", "Dog", "None", "Cloudy"]
NOT_TEXT: list[Any] = [None, 5, 1.5, True, ["A"], {"answer": "B"}]
CHOICE_KEYS = ("choice_a", "choice_b", "choice_c", "choice_d")
DIFFA_MODEL_CODE = (
    "torch",
    "torchaudio",
    "transformers",
    "loguru",
    "src.modeling_whisper_encoder",
    "src.modeling_DIFFA",
)
"""What DIFFA's inference scripts import for the model and audio (DIFFA's own code is under `src`)."""


def responses(letter: str, wrong: str) -> list[Any]:
    return [
        letter, wrong, f"{letter}.", f"({letter})", f"The answer is {letter}.", f"Answer: {letter}", letter.lower(),
        "", "None", " \n", f"{letter}\n", f"\n{letter}. something", f"I think it is {wrong}.",
        "According to the audio, C", "B)", "Hmm", "x", f"{letter} because", "The correct option is (B)", "AB",
        "  C  ", f"option {letter}", *NOT_TEXT,
    ]  # fmt: skip


def make_items(count: int, seed: int) -> list[dict[str, Any]]:
    """Records in the official inference output layout, with every edge case the scorers differ on."""
    rng = random.Random(seed)
    items = []
    for index in range(count):
        options: list[Any] = rng.sample(WORDS, 4)
        if index % 11 == 0:
            options[2:] = [None, None]  # two-option item, as the hub stores it
        if index % 17 == 0:
            options[2] = options[0]  # one option text twice
        present = [option for option in options if option is not None]
        answer_at = rng.randrange(len(present))
        answer = "Purple" if index % 13 == 0 else present[answer_at]  # none of the options
        category, sub = rng.choice(CELLS)
        record: dict[str, Any] = {"id": f"item{index}", "question": f"q{index}", "answer_gt": answer}
        record.update(zip(CHOICE_KEYS, options, strict=True))
        if index % 23 == 0 and options[2] is None:
            del record["choice_c"], record["choice_d"]  # a local file that leaves the keys out
        record.update({"category": category, "sub-category": sub, "task_name": f"task{index % 5}"})
        record.update({"sub-sub-category": "ssc", "linguistics_sub_discipline": "lsd", "audio_path": f"a{index}.wav"})
        if index % 97:
            record["response"] = rng.choice(responses("ABCD"[answer_at], "ABCD"[(answer_at + 1) % 4]))
        items.append(record)
    return items


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def quietly(function: Any, *args: Any) -> Any:
    with contextlib.redirect_stdout(io.StringIO()):
        return function(*args)


def official_scores(evaluation: ModuleType, items: Sequence[dict[str, Any]]) -> tuple[list[float | None], float, int]:
    """Each record alone through the official aggregate (None when it skips the record), then all together."""
    per_record = []
    for item in items:
        _, _, accuracy, total = quietly(evaluation.calculate_accuracy_per_task_and_category, [item])
        per_record.append(None if total == 0 else accuracy)
    _, _, overall, total = quietly(evaluation.calculate_accuracy_per_task_and_category, list(items))
    return per_record, overall, total


def diffa_scores(evaluate: ModuleType, items: Sequence[dict[str, Any]]) -> tuple[list[float], float, int]:
    """The same with DIFFA's copy, which counts every record."""
    per_record = [quietly(evaluate.calculate_accuracy, [item])[3] for item in items]
    *_, overall, total = quietly(evaluate.calculate_accuracy, list(items))
    return per_record, overall, total


def _instructions(items: Iterator[Any], caller_locals: list[str]) -> Iterator[Any]:
    """Yield the items a script loops over; after each, keep the `instruction` the loop body built."""
    for item in items:
        yield item
        caller_locals.append(sys._getframe(1).f_locals["instruction"])


@contextlib.contextmanager
def _argv(*args: str) -> Iterator[None]:
    saved = sys.argv
    sys.argv = ["script", *args]
    try:
        yield
    finally:
        sys.argv = saved


def official_prompts(inference: Path, items: Sequence[dict[str, Any]]) -> list[str]:
    """The prompts the official `mmsu_inference.py` builds, its hub rows replaced by `items`."""
    module = load_module(inference, "official_mmsu_inference")
    rows = [{**item, "audio": {"array": [0.0], "sampling_rate": 16_000, "path": item["audio_path"]}} for item in items]
    prompts: list[str] = []
    module.load_dataset = lambda *args, **kwargs: rows
    module.tqdm = lambda iterable, **kwargs: _instructions(iter(iterable), prompts)
    with tempfile.TemporaryDirectory() as folder, _argv("--output_jsonl", str(Path(folder) / "out.jsonl")):
        module.main()
    return prompts


@contextlib.contextmanager
def stand_ins(names: Sequence[str]) -> Iterator[None]:
    """Modules a script imports for its model and audio, which the prompt code never calls: installed
    ones are imported, DIFFA's own (`src.*`) and missing ones (torchaudio, loguru) get a stand-in for
    the time the script is loaded."""
    added = []
    for name in names:
        if name in sys.modules:
            continue
        if not name.startswith("src"):
            with contextlib.suppress(ImportError):
                importlib.import_module(name)
                continue
        added.append(name)
    for name in added:
        stand_in = types.ModuleType(name)
        stand_in.__spec__ = importlib.machinery.ModuleSpec(name, None)
        stand_in.__getattr__ = lambda attribute: mock.MagicMock()  # type: ignore[method-assign]
        sys.modules[name] = stand_in
    try:
        yield
    finally:
        for name in added:
            del sys.modules[name]


def diffa_prompts(checkout: Path, items: Sequence[dict[str, Any]]) -> list[str]:
    """The prompts DIFFA's `inference_stage2_mmsu.py` builds, with its model and audio replaced."""
    with stand_ins(DIFFA_MODEL_CODE):
        module = load_module(checkout / "inference_stage2_mmsu.py", "diffa_inference_stage2_mmsu")
    prompts: list[str] = []
    module.load_my_model = lambda *args: (None, None, None)
    module.read_audio = lambda path: None
    module.generate_response = lambda model, tokenizer, extractor, audio, instruction, args: (
        prompts.append(instruction) or "A"
    )
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        lines = []
        for item in items:
            (root / item["audio_path"]).touch()
            lines.append(json.dumps({**item, "audio_path": str(root / item["audio_path"])}))
        (root / "in.jsonl").write_text("\n".join(lines) + "\n")
        with _argv("--input_jsonl", str(root / "in.jsonl"), "--output_jsonl", str(root / "out.jsonl")):
            module.main()
    return prompts


def our_prompts(items: Sequence[dict[str, Any]], variant: str) -> list[str]:
    task = TASKS.get("mmsu")
    build = task.variants()[variant].build
    return [build(task.sample_from_record(item)) for item in items]


def our_strict(items: Sequence[dict[str, Any]]) -> list[float]:
    task = TASKS.get("mmsu")
    return [
        float(task.score(task.sample_from_record(item), task.prediction_of(item)).details["strict"]) for item in items
    ]


def report(name: str, agreement: Sequence[bool]) -> bool:
    print(f"{name}: {sum(agreement)}/{len(agreement)} agree")
    return all(agreement)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "official", type=Path, help="checkout of dingdongwang/MMSU (mmsu_evaluation.py, mmsu_inference.py)"
    )
    parser.add_argument("--diffa", type=Path, help="checkout of NKU-HLT/DIFFA (DIFFA-1 at its root)")
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    items = make_items(args.items, args.seed)
    official = args.official if args.official.is_dir() else args.official.parent  # a path to one of its files
    ok = True

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "preds.jsonl"
        path.write_text("".join(json.dumps(item) + "\n" for item in items))
        ours = score_file(TASKS.get("mmsu"), path)
    expected, overall, total = official_scores(load_module(official / "mmsu_evaluation.py", "mmsu_eval"), items)
    mine = ours.metrics.metrics["accuracy"]
    ok &= report("scores (official)", [e == line["score"] for e, line in zip(expected, ours.lines, strict=True)])
    print(f"  official: {100 * overall:.4f}% over {total}; diffa-eval: {mine.value:.4f}% over {mine.n}")
    outside = ours.metrics.metrics["answer_outside_choices_rate"]
    print(f"  answers outside the options: {round(outside.value * outside.n / 100)} of {outside.n} items")
    prompts = official_prompts(official / "mmsu_inference.py", items)
    ok &= report("prompts (official)", [a == b for a, b in zip(prompts, our_prompts(items, "official"), strict=True)])

    if args.diffa:
        evaluate = load_module(args.diffa / "mmsu" / "evaluate.py", "diffa_mmsu_evaluate")
        expected_strict, overall, total = diffa_scores(evaluate, items)
        strict = ours.metrics.metrics["accuracy_strict"]
        ok &= report(
            "scores (DIFFA, accuracy_strict)", [a == b for a, b in zip(expected_strict, our_strict(items), strict=True)]
        )
        print(f"  DIFFA: {100 * overall:.4f}% over {total}; diffa-eval: {strict.value:.4f}% over {strict.n}")
        theirs = diffa_prompts(args.diffa, items)
        ok &= report("prompts (DIFFA)", [a == b for a, b in zip(theirs, our_prompts(items, "diffa"), strict=True)])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
