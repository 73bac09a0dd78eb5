"""MMAR: a benchmark for deep reasoning in speech, audio, music and their mix (Ma et al., 2025).

Dataset: 1,000 multiple-choice questions on in-the-wild clips; metadata from
github.com/ddlBoJack/MMAR (`MMAR-meta.jsonl`, Feb 2026, with six answers fixed so that every
answer is one of its choices) or the original `MMAR-meta.json` (May 2025, also on the hub
BoJack/MMAR with `mmar-audio.tar.gz`); audio under `audio/`, named by `audio_path`.
License: CC BY-NC 4.0. arXiv:2505.13032. The run records which label version it read.

Scoring: the official `code/evaluation.py`, the same word-set match as MMAU (one shared
implementation); records without a prediction are left out. Breakdowns by modality (7),
category (4 layers) and sub-category. Clips can be longer than a model's audio window: the
runner cuts or skips them as `--long-audio` says and records it per sample.

Prompts: `default`, the authors' suggested prompt (question, "Select one option from the
provided choices:", the choices one per line); `diffa` / `diffa-2`, DIFFA's lettered prompt
with 16-token answers, as the DIFFA-2 scripts run MMAR.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from diffa_eval.datasources import read_json_records, record_audio, resolve_hub_revision, short_record, unpack_once
from diffa_eval.describe import BenchmarkLayout, ColumnSpec
from diffa_eval.errors import DataError
from diffa_eval.prompts import diffa_choice_prompt
from diffa_eval.scoring.metrics import Accuracy
from diffa_eval.scoring.scorers import SCORERS
from diffa_eval.task import LoadedData, PromptVariant, Task, register_task
from diffa_eval.types import DatasetInfo, GenerationConfig, Sample

log = logging.getLogger(__name__)

STRING_MATCH = "official string match: the answer's words present, no word only another option has"

HUB_ID = "BoJack/MMAR"
METADATA_FILES = ("MMAR-meta.jsonl", "MMAR-meta.json")
SAMPLE_DIR = Path(__file__).parent / "samples"
LABEL_VERSIONS = {
    "3a1a26748bfeede58b16c4a1877daa398285f30b": "MMAR-2026-02 (answers fixed)",
    "f85f63286907090251f316c18d9b5e17e51cab99": "MMAR-2025-05 (original release)",
}
"""Git blob sha of the official metadata file -> its label version."""
ORIGINAL_RELEASE = "f85f63286907090251f316c18d9b5e17e51cab99"

MISSING = (
    "To run MMAR, put the official files in <data dir>/MMAR/: MMAR-meta.jsonl (https://github.com/ddlBoJack/MMAR, "
    "the Feb-2026 labels) and the audio/ folder from mmar-audio.tar.gz (https://huggingface.co/datasets/BoJack/MMAR), "
    "then pass --data-dir or set DIFFA_EVAL_DATA_DIR; or allow hub access so that BoJack/MMAR can be downloaded "
    "(original May-2025 labels). Use --split sample for the bundled offline sample."
)


def _diffa_prompt(sample: Sample) -> str:
    return diffa_choice_prompt(str(sample.fields.get("question", "")), sample.choices)


class MMAR(Task):
    name = "mmar"
    version = 1
    description = "MMAR: 1,000 reasoning questions over speech/sound/music mixes, official string match."
    scorer = SCORERS.get("choice_text_match")
    metrics = (Accuracy(title="accuracy", protocol=STRING_MATCH),)
    leaderboard = BenchmarkLayout(
        "mmar", "MMAR", (ColumnSpec("avg", "mmar", "accuracy"),), "MMAR: accuracy (%), official string match"
    )
    generation = GenerationConfig(max_new_tokens=64)
    breakdown_fields = ("modality", "category", "sub-category")
    prediction_fields = ("prediction", "answer_prediction", "model_prediction", "model_output")
    prompt_variants = (
        PromptVariant(
            "diffa", "DIFFA's prompt (lettered choices), 16-token answers", _diffa_prompt, {"max_new_tokens": 16}
        ),
        PromptVariant(
            "diffa-2", "DIFFA-2's prompt (lettered choices), 16-token answers", _diffa_prompt, {"max_new_tokens": 16}
        ),
    )

    def load(self, split: str, data_dir: Path | None = None) -> LoadedData:
        self.check_split(split)
        if split == "sample":
            return self._load_folder(SAMPLE_DIR, "bundled")
        for folder in (data_dir / "MMAR", data_dir) if data_dir else ():
            if any((folder / name).is_file() for name in METADATA_FILES):
                return self._load_folder(folder, "local")
        return self._load_hub()

    def _load_folder(self, folder: Path, source: str, hub_sha: str | None = None) -> LoadedData:
        path = next(folder / name for name in METADATA_FILES if (folder / name).is_file())
        records, blob = read_json_records(path)
        if blob == ORIGINAL_RELEASE:
            log.warning("%s is the original MMAR release: 6 answers are not among their choices (fixed Feb 2026)", path)
        samples = [self.sample_from_record(record, folder) for record in records]
        where = {"bundled": f"bundled:mmar/{path.name}", "hub": HUB_ID}.get(source, str(path))
        return LoadedData(samples, DatasetInfo(source, where, hub_sha or blob, LABEL_VERSIONS.get(blob)))

    def _load_hub(self) -> LoadedData:
        """MMAR's hub repo holds the metadata JSON and one audio archive, unpacked once next to the download."""
        try:
            from huggingface_hub import hf_hub_download

            sha = resolve_hub_revision(HUB_ID, None)
            metadata = Path(hf_hub_download(HUB_ID, "MMAR-meta.json", repo_type="dataset", revision=sha))
            archive = Path(hf_hub_download(HUB_ID, "mmar-audio.tar.gz", repo_type="dataset", revision=sha))
        except Exception as error:
            raise DataError(f"could not download {HUB_ID}: {type(error).__name__}: {error}. {MISSING}") from None
        folder = archive.parent
        unpack_once(archive, folder)
        if not (folder / "MMAR-meta.json").exists():
            (folder / "MMAR-meta.json").symlink_to(metadata)
        return self._load_folder(folder, "hub", hub_sha=sha)

    def sample_from_record(self, record: Mapping[str, Any], base_dir: Path | None = None) -> Sample:
        try:
            sample_id = str(record["id"])
            choices = tuple(str(choice) for choice in record["choices"])
        except (KeyError, TypeError) as error:
            raise DataError(f"MMAR record lacks a field: {error}; record: {short_record(record)}") from None
        answer = record.get("answer")
        fields = {key: value for key, value in record.items() if key not in ("audio", "rubric", "thinking", "cue")}
        audio = record_audio(record, "audio_path", base_dir)
        return Sample(sample_id, audio, None if answer is None else str(answer), choices, fields)

    def prompt(self, sample: Sample) -> str:
        question = str(sample.fields.get("question", ""))
        return f"{question}\nSelect one option from the provided choices:\n" + "\n".join(sample.choices)


register_task(MMAR())
