"""The public API: every exported name resolves, and importing the package is cheap."""

from __future__ import annotations

import subprocess
import sys

import diffa_eval


def test_every_exported_name_resolves() -> None:
    assert set(diffa_eval.__all__) == {*diffa_eval._EXPORTS, "__version__"}
    for name in diffa_eval.__all__:
        assert getattr(diffa_eval, name) is not None, name


def test_importing_the_package_imports_neither_torch_nor_numpy() -> None:
    code = "import sys, diffa_eval; print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_quick_path_from_python(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from diffa_eval import ModelSpec, RunOptions, evaluate, resolve_tasks

    outcome = evaluate(
        [ModelSpec("oracle")], resolve_tasks(["mmau_test_mini"]), RunOptions(split="sample", output_dir=tmp_path)
    )
    assert outcome[0].metrics is not None and outcome[0].metrics.metrics["accuracy"].value == 100.0
