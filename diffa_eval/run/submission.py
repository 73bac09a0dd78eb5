"""The benchmark's submission file, from the run directory alone.

A task whose answers are withheld declares a `SubmissionForm`. When the run is planned, the form and each
planned sample's fields are stored in `submission-plan.json` beside `plan.json`; finishing the run (the
runner, a shard, or `merge`, which loads no dataset) fills in the recorded outputs and writes the file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..describe import SubmissionForm
from ..errors import StoreError
from ..files import atomic_write_text, unicode_safe, writing
from ..store import SampleRecord

SUBMISSION_PLAN = "submission-plan.json"


@dataclass(frozen=True)
class SubmissionPlan:
    """The submission form and the fields of each planned sample, by resume key, in dataset order."""

    form: SubmissionForm
    fields: Mapping[str, Mapping[str, Any]]

    def write(self, directory: Path) -> None:
        data = {
            "form": self.form.to_dict(),
            "samples": [{"key": key, "fields": dict(fields)} for key, fields in self.fields.items()],
        }
        path = directory / SUBMISSION_PLAN
        with writing(path):
            atomic_write_text(path, unicode_safe(json.dumps(data, indent=2, ensure_ascii=False, default=str)) + "\n")

    def merged(self, other: SubmissionPlan) -> SubmissionPlan:
        """This plan with the samples only `other` holds (the plans of shards gathered from several folders)."""
        fields = dict(self.fields)
        for key, values in other.fields.items():
            fields.setdefault(key, values)
        return SubmissionPlan(self.form, fields)


def read_submission_plan(directory: Path) -> SubmissionPlan | None:
    """The run's stored submission plan; None when the benchmark has no submission file (or the run was
    planned by a version that did not store it)."""
    path = directory / SUBMISSION_PLAN
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        form = SubmissionForm.from_dict(data["form"])
        return SubmissionPlan(form, {str(item["key"]): dict(item["fields"]) for item in data["samples"]})
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as error:
        raise StoreError(f"unreadable {path}: {error}") from None


def write_submission(directory: Path, plan: Sequence[str], records: Mapping[str, SampleRecord]) -> None:
    """The submission file for the planned keys `plan` (dataset order) and the recorded outputs, when the run
    has a submission plan."""
    stored = read_submission_plan(directory)
    if stored is None:
        return
    entries = [(stored.fields.get(key, {}), records[key].output if key in records else None) for key in plan]
    path = directory / stored.form.file_name
    with writing(path):
        atomic_write_text(path, stored.form.render(entries))
