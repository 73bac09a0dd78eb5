"""MMAU test-mini: Massive Multi-Task Audio Understanding and Reasoning (Sakshi et al., ICLR 2025).

Dataset: 1,000 multiple-choice questions over sound, music and speech; labels MMAU-v05.15.25
(official metadata `mmau-test-mini.json`, git blob a2f7539, from github.com/Sakshi113/MMAU;
audio in `test-mini-audios/`). Hub copy: gamma-lab-umd/MMAU-test-mini. License: see the
MMAU repository (audio from third-party corpora). arXiv:2410.19168.

Scoring: the official `evaluation.py` string match. A prediction is correct when it holds
every word of the answer text and no word that only other options hold; a letter alone is
wrong. Accuracy is pooled over all items; breakdowns by task (sound/music/speech),
difficulty and sub-category. Records without a prediction are left out, as in the official
script. Prompt: the question and the options without letters (the MMAR authors' wording),
so that models answer with the option text that the scorer matches.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from diffa_eval.datasources import load_hub_split, read_json_records
from diffa_eval.errors import DataError
from diffa_eval.scoring.metrics import Accuracy
from diffa_eval.scoring.scorers import SCORERS
from diffa_eval.task import LoadedData, Task, register_task
from diffa_eval.types import AudioRef, DatasetInfo, GenerationConfig, Sample

HUB_ID = "gamma-lab-umd/MMAU-test-mini"
METADATA = "mmau-test-mini.json"
SAMPLE_DIR = Path(__file__).parent / "samples" / "mmau_test_mini"
LABEL_VERSIONS = {"a2f7539b406a7a466d554e15a22342dbfe53c461": "MMAU-v05.15.25"}
"""Git blob sha of the official metadata file -> the label version it carries."""
HUB_LABEL_VERSIONS = {"ccd9696": "MMAU-v05.15.25"}
"""Hub commit sha prefix -> label version."""
_LETTER_PREFIX = re.compile(r"^\([A-Z]\)\s*")

MISSING = (
    "To run MMAU test-mini, put the official files in <data dir>/MMAU/: mmau-test-mini.json "
    "(https://github.com/Sakshi113/MMAU) and the folder test-mini-audios/ (audio archive from "
    "https://huggingface.co/datasets/gamma-lab-umd/MMAU-test-mini), then pass --data-dir or set "
    "DIFFA_EVAL_DATA_DIR; or allow hub access so that gamma-lab-umd/MMAU-test-mini can be downloaded. "
    "Use --split sample for the bundled offline sample."
)


class MMAUTestMini(Task):
    name = "mmau_test_mini"
    version = 1
    description = "MMAU test-mini (v05.15.25): 1,000 sound/music/speech multiple-choice items, official string match."
    groups = ("mmau",)
    scorer = SCORERS.get("choice_text_match")
    metrics = (Accuracy(),)
    generation = GenerationConfig(max_new_tokens=64)
    breakdown_fields = ("task", "difficulty", "sub-category")
    prediction_fields = ("prediction", "model_output", "model_prediction")

    def load(self, split: str, data_dir: Path | None = None) -> LoadedData:
        self.check_split(split)
        if split == "sample":
            return self._load_folder(SAMPLE_DIR, source="bundled")
        for folder in (data_dir / "MMAU", data_dir) if data_dir else ():
            if (folder / METADATA).is_file():
                return self._load_folder(folder, source="local")
        return self._load_hub()

    def _load_folder(self, folder: Path, source: str) -> LoadedData:
        records, blob = read_json_records(folder / METADATA)
        samples = [self.sample_from_record(record, folder) for record in records]
        where = f"bundled:{SAMPLE_DIR.name}/{METADATA}" if source == "bundled" else str(folder / METADATA)
        info = DatasetInfo(source, where, blob, LABEL_VERSIONS.get(blob))
        return LoadedData(samples, info)

    def _load_hub(self) -> LoadedData:
        dataset, sha = load_hub_split(HUB_ID, "test", audio_columns=("context",), missing_hint=MISSING)
        samples = [self.sample_from_record(_official_record(row)) for row in dataset]
        label_version = next((v for prefix, v in HUB_LABEL_VERSIONS.items() if sha and sha.startswith(prefix)), None)
        return LoadedData(samples, DatasetInfo("hub", HUB_ID, sha, label_version))

    def sample_from_record(self, record: Mapping[str, Any], base_dir: Path | None = None) -> Sample:
        try:
            choices = tuple(str(choice) for choice in record["choices"])
            answer = record.get("answer")
            sample_id = str(record["id"])
        except (KeyError, TypeError) as error:
            raise DataError(f"MMAU record lacks a field: {error}; record: {_short(record)}") from None
        audio = record.get("audio")
        if isinstance(audio, Mapping):
            ref: AudioRef | None = AudioRef.from_hf(audio)
        elif record.get("audio_id") and base_dir is not None:
            ref = AudioRef(path=str((base_dir / str(record["audio_id"])).resolve()))
        else:
            ref = None
        fields = {key: value for key, value in record.items() if key != "audio"}
        return Sample(sample_id, ref, None if answer is None else str(answer), choices, fields)

    def prompt(self, sample: Sample) -> str:
        question = str(sample.fields.get("question", "")).strip()
        return f"{question}\nSelect one option from the provided choices:\n" + "\n".join(sample.choices)


def _official_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """A hub row in the official metadata schema: unpack `other_attributes`, drop "(A) " prefixes."""
    attributes = row.get("other_attributes") or {}
    if isinstance(attributes, str):
        attributes = json.loads(attributes)
    record = dict(attributes)
    record.update(
        question=row["instruction"],
        choices=[_LETTER_PREFIX.sub("", str(choice)) for choice in row["choices"]],
        answer=_LETTER_PREFIX.sub("", str(row["answer"])),
        audio=row["context"],
    )
    return record


def _short(record: Mapping[str, Any]) -> str:
    text = json.dumps({k: v for k, v in record.items() if k != "audio"}, default=str)
    return text if len(text) <= 200 else text[:200] + "..."


register_task(MMAUTestMini())
