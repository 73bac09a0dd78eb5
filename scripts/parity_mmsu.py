"""Compare `diffa-eval score mmsu` with the official MMSU scorer, item by item, on generated outputs.

    python scripts/parity_mmsu.py /path/to/MMSU/mmsu_evaluation.py [--items 3000] [--seed 7]

Writes varied responses (letters, "(B)", "Answer: C", lowercase, explanations, empty, "None",
missing keys) for synthetic four-option items, scores each record alone with the official
`calculate_accuracy_per_task_and_category` (0/1, or skipped) and with diffa-eval, and prints
the agreement and both overall accuracies. Needs the official script, which is not shipped.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import random
import tempfile
from pathlib import Path

from diffa_eval.scoring.offline import score_file
from diffa_eval.task import TASKS

CELLS = [(c, s) for c in ("perception", "reasoning") for s in ("semantics", "phonology", "paralinguistics")]
WORDS = ["red", "blue", "Apple", "banana", "A cat", "Bright", "Dog", "None", "Cloudy"]


def responses(letter: str, wrong: str) -> list[str]:
    return [
        letter, wrong, f"{letter}.", f"({letter})", f"The answer is {letter}.", f"Answer: {letter}", letter.lower(),
        "", "None", " \n", f"{letter}\n", f"\n{letter}. something", f"I think it is {wrong}.",
        "According to the audio, C", "B)", "Hmm", "x", f"{letter} because", "The correct option is (B)", "AB",
        "  C  ", f"option {letter}",
    ]  # fmt: skip


def write_items(path: Path, count: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w") as handle:
        for index in range(count):
            choices = rng.sample(WORDS, 4)
            answer = rng.randrange(4)
            category, sub = rng.choice(CELLS)
            record = {"id": f"item{index}", "question": "q", "answer_gt": choices[answer], "category": category}
            record.update({f"choice_{x}": c for x, c in zip("abcd", choices, strict=True)}, **{"sub-category": sub})
            if index % 97:
                record["response"] = rng.choice(responses("ABCD"[answer], "ABCD"[(answer + 1) % 4]))
            handle.write(json.dumps(record) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("official", type=Path, help="path to the official mmsu_evaluation.py")
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    spec = importlib.util.spec_from_file_location("official_mmsu", args.official)
    assert spec and spec.loader
    official = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(official)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "preds.jsonl"
        write_items(path, args.items, args.seed)
        records = [json.loads(line) for line in path.read_text().splitlines()]
        ours = score_file(TASKS.get("mmsu"), path)
    agree = 0
    for record, line in zip(records, ours.lines, strict=True):
        with contextlib.redirect_stdout(io.StringIO()):
            _, _, accuracy, total = official.calculate_accuracy_per_task_and_category([record])
        agree += (None if total == 0 else accuracy) == line["score"]
    with contextlib.redirect_stdout(io.StringIO()):
        _, _, overall, total = official.calculate_accuracy_per_task_and_category(records)
    mine = ours.metrics.metrics["accuracy"]
    print(f"items agreeing: {agree}/{len(records)}")
    print(f"official: {100 * overall:.4f}% over {total}; diffa-eval: {mine.value:.4f}% over {mine.n}")


if __name__ == "__main__":
    main()
