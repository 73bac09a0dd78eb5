"""MMAU: Massive Multi-Task Audio Understanding and Reasoning (Sakshi et al., ICLR 2025).

Dataset: multiple-choice questions over sound, music and speech; labels MMAU-v05.15.25.
`mmau_test_mini`: 1,000 items with answers (official metadata `mmau-test-mini.json`, git blob
a2f7539; audio in `test-mini-audios/`, an archive linked from the MMAU README; hub
gamma-lab-umd/MMAU-test-mini, a parquet with the audio embedded and its own key names, mapped to
the official ones). `mmau_test`: 9,000 items whose answers are withheld (`mmau-test.json`, blob
344d99b; audio in `test-audios/`; hub gamma-lab-umd/MMAU-test, which keeps the official keys and
its audio in `test-audios.tar.gz`, unpacked once). Metadata from github.com/Sakshi113/MMAU.
License: see the MMAU repository (audio from third-party corpora). arXiv:2410.19168.

Scoring: the official `evaluation.py` string match. A prediction is correct when it holds
every word of the answer text and no word that only other options hold; a letter alone is
wrong. Accuracy is pooled over all items; breakdowns by task (sound/music/speech),
difficulty and sub-category. Records without a prediction are left out, as in the official
script. `mmau_test` reports no accuracy: each run writes `submission.json` (the official
metadata with the model's text under `model_output` and `model_prediction`, the keys the
official script and README name) for the MMAU-Eval space on Hugging Face.

Prompts: `default`, the question and the options without letters (the MMAR authors'
wording), so that models answer with the option text that the scorer matches; `diffa` /
`diffa-2`, DIFFA's prompt with lettered choices and 16-token answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from diffa_eval.datasources import (
    hub_file,
    load_hub_split,
    read_json_records,
    record_audio,
    short_record,
    unpack_once,
)
from diffa_eval.describe import BenchmarkLayout, ColumnSpec, SubmissionForm
from diffa_eval.errors import DataError
from diffa_eval.prompts import diffa_choice_prompt
from diffa_eval.scoring.metrics import Accuracy
from diffa_eval.scoring.scorers import SCORERS
from diffa_eval.task import LoadedData, PromptVariant, Task, register_task
from diffa_eval.types import DatasetInfo, GenerationConfig, Sample

SAMPLES = Path(__file__).parent / "samples"
STRING_MATCH = "official string match: the answer's words present, no word only another option has"
LABEL_VERSIONS = {
    "a2f7539b406a7a466d554e15a22342dbfe53c461": "MMAU-v05.15.25",
    "344d99bb206f8be8e69b4507988556fb52b36b02": "MMAU-v05.15.25",
}
"""Git blob sha of an official metadata file -> the label version it carries."""
HUB_LABEL_VERSIONS = {"ccd9696": "MMAU-v05.15.25"}
"""Hub commit sha prefix of gamma-lab-umd/MMAU-test-mini -> label version."""
TEST_AUDIO_ARCHIVE = "test-audios.tar.gz"
"""The audio of gamma-lab-umd/MMAU-test (checked at revision 8e835a9), beside its metadata."""
_LETTER_PREFIX = re.compile(r"^\([A-Z]\)\s*")


def _diffa_prompt(sample: Sample) -> str:
    return diffa_choice_prompt(str(sample.fields.get("question", "")), sample.choices)


class MMAU(Task):
    version = 2
    groups = ("mmau",)
    metrics = (Accuracy(title="accuracy", protocol=STRING_MATCH),)
    generation = GenerationConfig(max_new_tokens=64)
    breakdown_fields = ("task", "difficulty", "sub-category")
    prediction_fields = ("prediction", "model_output", "model_prediction")
    prompt_variants = (
        PromptVariant(
            "diffa",
            "DIFFA's prompt (lettered choices) and answer length (16 tokens)",
            _diffa_prompt,
            {"max_new_tokens": 16},
        ),
        PromptVariant(
            "diffa-2",
            "DIFFA-2's prompt (lettered choices) and answer length (16 tokens)",
            _diffa_prompt,
            {"max_new_tokens": 16},
        ),
    )

    def __init__(self, subset: str) -> None:
        self.subset = subset
        self.name = f"mmau_{subset.replace('-', '_')}"
        self.leaderboard = _layout(self.name, subset)
        self.metadata = f"mmau-{subset}.json"
        self.hub_id = f"gamma-lab-umd/MMAU-{subset}"
        self.sample_dir = SAMPLES / self.name
        self.answers_hidden = subset == "test"
        if self.answers_hidden:
            self.submission_form = SubmissionForm("submission.json", ("model_output", "model_prediction"))
            self.description = (
                "MMAU test (v05.15.25): 9,000 items, answers withheld; writes the official submission file."
            )
            self.scorer = SCORERS.get("hidden_answers")
        else:
            self.description = (
                "MMAU test-mini (v05.15.25): 1,000 sound/music/speech multiple-choice items, official string match."
            )
            self.scorer = SCORERS.get("choice_text_match")
        if self.answers_hidden:
            audio, hub = (
                f"the folder test-audios/ ({TEST_AUDIO_ARCHIVE} from https://huggingface.co/datasets/{self.hub_id})",
                "its metadata and test-audios.tar.gz, unpacked once next to the download",
            )
        else:
            audio, hub = (
                "the folder test-mini-audios/ (test-mini-audios.tar.gz, linked from that repository's README)",
                "its test_mini.parquet holds the audio",
            )
        self.missing = (
            f"To run MMAU {subset}, put the official files in <data dir>/MMAU/: {self.metadata} "
            f"(https://github.com/Sakshi113/MMAU) and {audio}, then pass --data-dir or set DIFFA_EVAL_DATA_DIR; "
            f"or allow hub access so that {self.hub_id} can be downloaded ({hub}). "
            "Use --split sample for the bundled sample."
        )

    def load(self, split: str, data_dir: Path | None = None) -> LoadedData:
        self.check_split(split)
        if split == "sample":
            return self._load_folder(self.sample_dir, source="bundled")
        for folder in (data_dir / "MMAU", data_dir) if data_dir else ():
            if (folder / self.metadata).is_file():
                return self._load_folder(folder, source="local")
        return self._load_hub()

    def _load_folder(self, folder: Path, source: str) -> LoadedData:
        records, blob = read_json_records(folder / self.metadata)
        samples = [self.sample_from_record(record, folder) for record in records]
        where = f"bundled:{folder.name}/{self.metadata}" if source == "bundled" else str(folder / self.metadata)
        return LoadedData(samples, DatasetInfo(source, where, blob, LABEL_VERSIONS.get(blob)))

    def _load_hub(self) -> LoadedData:
        if self.answers_hidden:
            return self._load_hub_test()
        dataset, sha = load_hub_split(self.hub_id, "test", audio_columns=("context",), missing_hint=self.missing)
        samples = [self.sample_from_record(_official_record(row)) for row in dataset]
        label_version = next((v for prefix, v in HUB_LABEL_VERSIONS.items() if sha and sha.startswith(prefix)), None)
        return LoadedData(samples, DatasetInfo("hub", self.hub_id, sha, label_version))

    def _load_hub_test(self) -> LoadedData:
        """MMAU-test on the hub keeps the official keys (`audio_id` names `./test-audios/<id>.wav`) and its
        audio in one archive, unpacked once next to the download."""
        dataset, sha = load_hub_split(self.hub_id, "test", missing_hint=self.missing)
        archive = hub_file(self.hub_id, TEST_AUDIO_ARCHIVE, sha, missing_hint=self.missing)
        unpack_once(archive, archive.parent)
        samples = [self.sample_from_record(dict(row), archive.parent) for row in dataset]
        return LoadedData(samples, DatasetInfo("hub", self.hub_id, sha))

    def sample_from_record(self, record: Mapping[str, Any], base_dir: Path | None = None) -> Sample:
        try:
            raw_choices = record["choices"]
            answer = record.get("answer")
            sample_id = str(record["id"])
        except (KeyError, TypeError) as error:
            raise DataError(f"MMAU record lacks a field: {error}; record: {short_record(record)}") from None
        if not isinstance(raw_choices, list) or not all(isinstance(choice, str) for choice in raw_choices):
            shown = json.dumps(raw_choices, ensure_ascii=False, default=str)[:80]
            raise DataError(f"MMAU record {sample_id}: 'choices' must be a list of strings, got {shown}")
        choices = tuple(raw_choices)
        if not self.answers_hidden and answer is not None and str(answer) not in choices:
            raise DataError(f"MMAU record {sample_id}: the answer {str(answer)!r} is not one of its choices")
        fields = {key: value for key, value in record.items() if key != "audio"}
        audio = record_audio(record, "audio_id", base_dir)
        return Sample(sample_id, audio, None if answer is None else str(answer), choices, fields)

    def prompt(self, sample: Sample) -> str:
        question = str(sample.fields.get("question", ""))  # as given: some questions end in a space
        return f"{question}\nSelect one option from the provided choices:\n" + "\n".join(sample.choices)


def _layout(task: str, subset: str) -> BenchmarkLayout:
    """Sound, music and speech accuracy, then the average over all items."""
    by_task = tuple(ColumnSpec(label, task, "accuracy", ("task", label)) for label in ("sound", "music", "speech"))
    if subset == "test":
        title, protocol = "MMAU test", "MMAU test: accuracy (%) from the official MMAU-Eval server"
    else:
        title, protocol = "MMAU test-mini", "MMAU: accuracy (%), official string match"
    return BenchmarkLayout(task, title, (*by_task, ColumnSpec("avg", task, "accuracy")), protocol)


def _official_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """A hub row in the official metadata schema: unpack `other_attributes`, drop "(A) " prefixes."""
    attributes = row.get("other_attributes") or {}
    if isinstance(attributes, str):
        attributes = json.loads(attributes)
    record = dict(attributes)
    record.update(
        question=row["instruction"],
        choices=[_LETTER_PREFIX.sub("", str(choice)) for choice in row["choices"]],
        answer=None if row.get("answer") is None else _LETTER_PREFIX.sub("", str(row["answer"])),
        audio=row["context"],
    )
    return record


register_task(MMAU("test-mini"))
register_task(MMAU("test"))
