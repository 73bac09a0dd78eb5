"""LibriSpeech test-clean and test-other: English read-speech recognition (Panayotov et al., ICASSP 2015).

Dataset: openslr.org/12 (`LibriSpeech/test-clean/<speaker>/<chapter>/*.flac` + `.trans.txt`),
hub openslr/librispeech_asr (configs `clean`/`other`, split `test`; 2,620 / 2,939 utterances).
License: CC BY 4.0.

Metric: corpus WER in percent, as Whisper and the Open ASR Leaderboard compute it: Whisper's
English text normalizer on reference and hypothesis, items with an empty normalized
reference dropped, an empty hypothesis counted as all deletions, total edits over total
reference words. Substitution, deletion and insertion totals are reported with it.
`wer_diffa2` is the WER as DIFFA-2 reports it (WeNet's `tools/compute-wer.py --char=1`: upper
case, words split at spaces with their punctuation attached, every utterance counted), to be
compared with DIFFA-2's published numbers only; its `remove_marker.py` step, whose code is not
public, is not applied.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from diffa_eval.datasources import load_hub_split
from diffa_eval.describe import BenchmarkLayout, ColumnSpec
from diffa_eval.errors import DataError
from diffa_eval.scoring.metrics import CorpusWER
from diffa_eval.scoring.scorers import SCORERS
from diffa_eval.scoring.wer import wenet_word_errors
from diffa_eval.task import LoadedData, PromptVariant, Task, register_task
from diffa_eval.types import AudioRef, DatasetInfo, GenerationConfig, Sample, Score

HUB_ID = "openslr/librispeech_asr"
SAMPLE_DIR = Path(__file__).parent / "samples" / "LibriSpeech"


ASR_PROMPTS = (
    # How model families' authors prompted for LibriSpeech (benchmarks research notes, §5.2; DIFFA notes, §3).
    PromptVariant(
        "qwen2-audio",
        "Qwen2-Audio's own ASR evaluation prompt (language tag included)",
        lambda sample: "Detect the language and recognize the speech: <|en|>",
    ),
    PromptVariant(
        "qwen2.5-omni",
        "the Qwen2.5-Omni ASR prompt used by lmms-eval",
        lambda sample: "Transcribe the English audio into text without any punctuation marks.",
    ),
    PromptVariant(
        "diffa-2-asr",
        "DIFFA-2's stage-1 ASR instruction and length (128 tokens)",
        lambda sample: "Please transcribe the audio to text.",
        {"max_new_tokens": 128},
    ),
)


WER = CorpusWER(title="WER", protocol="corpus WER after Whisper's English normalizer on both sides")
DIFFA2_WER = CorpusWER(
    "wer_diffa2",
    prefix="diffa2_",
    title="WER (DIFFA-2's protocol)",
    protocol="WeNet's compute-wer: upper case, words split at spaces, every utterance counted",
)
"""DIFFA-2's WER protocol, from the `diffa2_` counts that `LibriSpeech.score` adds."""


LEADERBOARD = BenchmarkLayout(
    "librispeech",
    "LibriSpeech WER",
    (
        ColumnSpec("clean", "librispeech_test_clean", "wer"),
        ColumnSpec("other", "librispeech_test_other", "wer"),
    ),
    "LibriSpeech: corpus WER (%), Whisper English normalizer on both sides",
)


class LibriSpeech(Task):
    version = 2
    groups = ("librispeech",)
    scorer = SCORERS.get("whisper_wer")
    metrics = (WER, DIFFA2_WER)
    leaderboard = LEADERBOARD
    generation = GenerationConfig(max_new_tokens=256)
    prediction_fields = ("prediction", "hypothesis", "response", "pred_text")
    prompt_variants = ASR_PROMPTS

    def __init__(self, subset: str) -> None:
        self.subset = subset
        self.folder = f"test-{subset}"
        self.name = f"librispeech_test_{subset}"
        self.description = f"LibriSpeech {self.folder}: English read speech, corpus WER after Whisper's normalizer."

    def load(self, split: str, data_dir: Path | None = None) -> LoadedData:
        self.check_split(split)
        if split == "sample":
            return self._load_folder(SAMPLE_DIR, source="bundled")
        for root in (data_dir / "LibriSpeech", data_dir) if data_dir else ():
            if (root / self.folder).is_dir():
                return self._load_folder(root, source="local")
        return self._load_hub()

    def _load_folder(self, root: Path, source: str) -> LoadedData:
        transcripts = sorted((root / self.folder).glob("*/*/*.trans.txt"))
        if not transcripts:
            raise DataError(f"no *.trans.txt files under {root / self.folder}")
        digest = hashlib.sha256()
        records = []
        for transcript in transcripts:
            content = transcript.read_bytes()
            digest.update(content)
            for number, line in enumerate(content.decode("utf-8", errors="replace").splitlines(), start=1):
                if line.strip():
                    records.append(_transcript_record(transcript, number, line))
        samples = [self.sample_from_record(record) for record in records]
        # The revision of a local copy: a hash over its transcripts, in path order.
        where = f"bundled:librispeech/{self.folder}" if source == "bundled" else str(root / self.folder)
        info = DatasetInfo(source, where, f"transcripts-sha256:{digest.hexdigest()}")
        return LoadedData(samples, info)

    def _load_hub(self) -> LoadedData:
        hint = (
            f"To run {self.name} offline, download {self.folder}.tar.gz from https://www.openslr.org/12, "
            "extract it so that <data dir>/LibriSpeech/" + self.folder + "/ exists, and pass --data-dir "
            "or set DIFFA_EVAL_DATA_DIR. Use --split sample for the bundled offline sample."
        )
        dataset, sha = load_hub_split(HUB_ID, "test", config=self.subset, audio_columns=("audio",), missing_hint=hint)
        samples = [self.sample_from_record(row) for row in dataset]
        return LoadedData(samples, DatasetInfo("hub", f"{HUB_ID}/{self.subset}", sha))

    def sample_from_record(self, record: Mapping[str, Any], base_dir: Path | None = None) -> Sample:
        try:
            sample_id = str(record["id"])
            text = str(record["text"])
        except KeyError as error:
            raise DataError(f"LibriSpeech record lacks the field {error}: {dict(record)!r:.200}") from None
        audio = record.get("audio")
        if isinstance(audio, Mapping):
            ref: AudioRef | None = AudioRef.from_hf(audio)
        elif record.get("file"):
            path = Path(str(record["file"]))
            ref = AudioRef(path=str(base_dir / path if base_dir and not path.is_absolute() else path))
        else:
            ref = None
        # Where the audio lies is no part of the item: a copy moved elsewhere keeps its scores' inputs.
        fields = {key: value for key, value in record.items() if key not in ("audio", "file")}
        return Sample(sample_id, ref, text, (), fields)

    def prompt(self, sample: Sample) -> str:
        return "Transcribe the English speech in the audio. Output only the transcription."

    def score(self, sample: Sample, prediction: str | None) -> Score:
        """Whisper's WER, with the word counts of DIFFA-2's protocol (`diffa2_*`) in its details; an
        utterance that Whisper's protocol leaves out still counts for DIFFA-2's."""
        score = super().score(sample, prediction)
        diffa2 = wenet_word_errors(sample.reference or "", prediction or "").as_details()
        details = {**score.details, **{f"{DIFFA2_WER.prefix}{key}": value for key, value in diffa2.items()}}
        return dataclasses.replace(score, details=details)


def _transcript_record(transcript: Path, number: int, line: str) -> dict[str, Any]:
    """One line of an OpenSLR `*.trans.txt`, `SPEAKER-CHAPTER-UTTERANCE TEXT`, as a record; a malformed
    line is an error naming the file and the line."""
    utterance, _, text = line.strip().partition(" ")
    parts = utterance.split("-")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        problem = f"not SPEAKER-CHAPTER-UTTERANCE TEXT: {line.strip()[:80]!r}"
    elif not text.strip():
        problem = f"no transcript text after {utterance}"
    else:
        return {
            "file": str(transcript.parent / f"{utterance}.flac"),
            "text": text.strip(),
            "speaker_id": int(parts[0]),
            "chapter_id": int(parts[1]),
            "id": utterance,
        }
    raise DataError(f"{transcript}, line {number}: {problem}")


register_task(LibriSpeech("clean"))
register_task(LibriSpeech("other"))
