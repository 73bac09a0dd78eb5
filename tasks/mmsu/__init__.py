"""MMSU: Massive Multi-task Spoken Language Understanding and Reasoning (Wang et al., ICLR 2026).

Dataset: 5,000 questions over 47 tasks of speech perception and reasoning (semantics,
phonology, paralinguistics), most with four options, some with two (`choice_c`/`choice_d`
null); hub ddwang2000/MMSU (its one split is named `train`), MIT license; arXiv:2506.04779.
Locally: a folder with a JSONL/JSON metadata file in the official inference output layout
(`id`, `audio_path`, `question`, `choice_a`..`choice_d`, `answer_gt`, `category`,
`sub-category`, ...), or a downloaded copy of the hub dataset.

Scoring: the official `mmsu_evaluation.py` letter rule (`scoring.py`; the letter itself is read by
`diffa_eval.scoring.letters`).
`accuracy` is the official protocol, which leaves format errors and responses that are not
text (JSON null, numbers) out of the denominator; `accuracy_strict` counts them wrong, as
DIFFA's own evaluation does; `parse_failure_rate` is the share of responses without a
readable letter (empty ones included). An item whose `answer_gt` is not exactly one of its
options is scored as the official comparison of option text with answer text does (no letter
is right when it is none of them); loading logs how many there are and
`answer_outside_choices_rate` reports their share. Breakdowns by category
(perception/reasoning), sub-category, their pairs (the official leaderboard columns) and task.

Prompts: `official` (the current wording, Feb 2026), `official-2025` (the earlier wording,
which DIFFA used), and `diffa` / `diffa-2` (that wording with DIFFA's and DIFFA-2's answer
lengths: 4 and 16 tokens; DIFFA takes steps = block length = answer length). The variants
differ on two-option items: the official scripts always list A-D, a null option reading
"None" (the 2025 script also for an absent one, the current one leaves an absent option
empty), while DIFFA's and DIFFA-2's scripts list only the options present, lettered in order.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from diffa_eval.datasources import load_hub_split, read_json_records, record_audio, short_record
from diffa_eval.describe import BenchmarkLayout, ColumnSpec
from diffa_eval.errors import DataError
from diffa_eval.prompts import lettered
from diffa_eval.scoring.letters import LETTERS
from diffa_eval.scoring.metrics import Accuracy
from diffa_eval.task import LoadedData, PromptVariant, Task, register_task
from diffa_eval.types import DatasetInfo, GenerationConfig, Sample

from .scoring import MMSULetter

log = logging.getLogger(__name__)

HUB_ID = "ddwang2000/MMSU"
HUB_SPLIT = "train"
SAMPLE_DIR = Path(__file__).parent / "samples"
CHOICE_KEYS = ("choice_a", "choice_b", "choice_c", "choice_d")

INSTRUCTION = "Choose the most suitable answer from options A, B, C, and D. You must respond with only A, B, C, or D."
INSTRUCTION_2025 = (
    "Choose the most suitable answer from options A, B, C, and D to respond the question in next line, "
    "**you should only choose A or B or C or D.** Do not provide any additional explanations or content."
)

MISSING = (
    "To run MMSU, put a local copy in <data dir>/MMSU/: a JSONL metadata file in the official layout "
    "(id, audio_path, question, choice_a..choice_d, answer_gt, category, sub-category) with the audio files it "
    "names, or a download of https://huggingface.co/datasets/ddwang2000/MMSU; then pass --data-dir or set "
    "DIFFA_EVAL_DATA_DIR. Or allow hub access. Use --split sample for the bundled offline sample."
)


def _official_options(sample: Sample, absent: str) -> str:
    """A-D, each option as the official scripts format it (a null one reads "None"), `absent` for a
    key the record lacks."""
    return "\n".join(
        f"{letter}. {sample.fields.get(key, absent)}" for letter, key in zip(LETTERS, CHOICE_KEYS, strict=True)
    )


def _present_options(sample: Sample) -> str:
    """Only the options the record holds (not null), lettered in order, as DIFFA's scripts list them."""
    return lettered([sample.fields[key] for key in CHOICE_KEYS if sample.fields.get(key) is not None])


def _prompt(instruction: str, sample: Sample, options: str) -> str:
    return f"{instruction}\n\nQuestion: {sample.fields.get('question', '')}\n\n{options}"


def _prompt_2025(sample: Sample) -> str:
    return _prompt(INSTRUCTION_2025, sample, _official_options(sample, absent="None"))


def _prompt_diffa(sample: Sample) -> str:
    return _prompt(INSTRUCTION_2025, sample, _present_options(sample))


def _options_of(record: Mapping[str, Any]) -> tuple[str, ...]:
    """The option texts by letter; missing trailing options (two-option items) are left out, a
    missing one before a present one stays as an empty text so that letters keep their option."""
    values = [record.get(key) for key in CHOICE_KEYS]
    while values and values[-1] is None:
        values.pop()
    return tuple("" if value is None else str(value) for value in values)


LEADERBOARD = BenchmarkLayout(
    "mmsu",
    "MMSU",
    (
        *(ColumnSpec(label, "mmsu", "accuracy", ("category", label)) for label in ("perception", "reasoning")),
        ColumnSpec("avg", "mmsu", "accuracy"),
    ),
    "MMSU: accuracy (%), official letter rule, unparsable answers left out",
)


class MMSU(Task):
    name = "mmsu"
    version = 2
    description = "MMSU: 5,000 spoken-language perception/reasoning questions (47 tasks), official letter rule."
    scorer = MMSULetter()
    leaderboard = LEADERBOARD
    metrics = (
        Accuracy(title="accuracy", protocol="official letter rule; unparsable answers are left out"),
        Accuracy(
            "accuracy_strict", field="strict", title="strict accuracy", protocol="unparsable answers count as wrong"
        ),
        Accuracy(
            "parse_failure_rate",
            field="parse_failed",
            lower_is_better=True,
            title="unparsable",
            protocol="share of answers without a readable letter (empty ones included)",
        ),
        Accuracy(
            "answer_outside_choices_rate",
            field="answer_outside_choices",
            lower_is_better=True,
            title="answer not an option",
            protocol="share of items whose answer is not exactly one of their options",
        ),
    )
    generation = GenerationConfig(max_new_tokens=32)
    breakdown_fields = ("category", "sub-category", "category/sub-category", "task_name")
    prediction_fields = ("prediction", "response")
    default_prompt = "official"
    prompt_variants = (
        PromptVariant("official-2025", "the earlier official wording (MMSU_Bench, 2025), used by DIFFA", _prompt_2025),
        PromptVariant(
            "diffa", "DIFFA's prompt (options present only) and answer length (4 tokens)", _prompt_diffa,
            {"max_new_tokens": 4},
        ),
        PromptVariant(
            "diffa-2", "DIFFA-2's prompt (options present only) and answer length (16 tokens)", _prompt_diffa,
            {"max_new_tokens": 16},
        ),
    )  # fmt: skip

    def load(self, split: str, data_dir: Path | None = None) -> LoadedData:
        self.check_split(split)
        if split == "sample":
            return self._load_metadata(SAMPLE_DIR / "mmsu.jsonl", "bundled")
        folder = data_dir / "MMSU" if data_dir and (data_dir / "MMSU").is_dir() else None
        if folder is not None:
            metadata = sorted([*folder.glob("*.jsonl"), *folder.glob("*.json")])
            if metadata:
                return self._load_metadata(metadata[0], "local")
            return self._load_hub(str(folder))
        return self._load_hub(HUB_ID)

    def _load_metadata(self, path: Path, source: str) -> LoadedData:
        records, blob = read_json_records(path)
        samples = [self.sample_from_record(record, path.parent) for record in records]
        where = f"bundled:mmsu/{path.name}" if source == "bundled" else str(path)
        return _checked(LoadedData(samples, DatasetInfo(source, where, blob)))

    def _load_hub(self, repo: str) -> LoadedData:
        dataset, sha = load_hub_split(repo, HUB_SPLIT, audio_columns=("audio",), missing_hint=MISSING)
        source = "hub" if repo == HUB_ID else "local"
        return _checked(LoadedData([self.sample_from_record(row) for row in dataset], DatasetInfo(source, repo, sha)))

    def sample_from_record(self, record: Mapping[str, Any], base_dir: Path | None = None) -> Sample:
        try:
            sample_id = str(record["id"])
            choices = _options_of(record)
            answer = record.get("answer_gt")
        except (KeyError, TypeError, AttributeError) as error:
            raise DataError(f"MMSU record lacks a field: {error}; record: {short_record(record)}") from None
        fields = {key: value for key, value in record.items() if key != "audio"}
        fields["category/sub-category"] = f"{record.get('category')}/{record.get('sub-category')}"
        audio = record_audio(record, "audio_path", base_dir)
        return Sample(sample_id, audio, None if answer is None else str(answer), choices, fields)

    def prompt(self, sample: Sample) -> str:
        return _prompt(INSTRUCTION, sample, _official_options(sample, absent=""))

    def prediction_of(self, record: Mapping[str, Any]) -> str | None:
        """The response as the official scorer reads it: an absent one is empty (counted wrong), a value
        that is not text (JSON null, a number) is None (left out by the official protocol)."""
        present = [record[name] for name in self.prediction_fields if name in record]
        if not present:
            return ""
        return next((value for value in present if isinstance(value, str)), None)

    def answer_options(self, sample: Sample) -> tuple[str, ...]:
        return tuple(LETTERS[: len(sample.choices)])

    def ideal_answer(self, sample: Sample) -> str | None:
        if sample.reference not in sample.choices:
            return None  # no option is the answer: nothing can be scored right
        return LETTERS[sample.choices.index(sample.reference)]


def _checked(loaded: LoadedData) -> LoadedData:
    """Log the items whose answer is not exactly one of their options: they stay in, scored as officially."""
    samples = [s for s in loaded.samples if s.reference is not None]
    outside = [s.id for s in samples if s.reference not in s.choices]
    repeated = [s.id for s in samples if s.choices.count(s.reference or "") > 1]
    for ids, what in ((outside, "none of their options"), (repeated, "the text of two or more options")):
        if ids:
            shown = ", ".join(ids[:5]) + (" ..." if len(ids) > 5 else "")
            log.warning(
                "MMSU %s: %d of %d items have an answer_gt that is %s (%s); they are scored as the official "
                "scorer does", loaded.info.id, len(ids), len(loaded.samples), what, shown,
            )  # fmt: skip
    return loaded


register_task(MMSU())
