"""The generic registry: duplicates, "did you mean", lazy entries, entry-point plugins."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from diffa_eval.errors import RegistryError, UnknownNameError
from diffa_eval.registry import Registry


def test_a_name_can_be_registered_only_once() -> None:
    registry: Registry[int] = Registry("number")
    registry.register("one", 1, origin="first file")
    with pytest.raises(RegistryError, match="registered twice: by first file and by second file"):
        registry.register("one", 1, origin="second file")


def test_unknown_names_get_close_suggestions() -> None:
    registry: Registry[int] = Registry("task")
    registry.register("mmau_test_mini", 1)
    registry.register("librispeech_test_clean", 2)
    with pytest.raises(UnknownNameError) as caught:
        registry.get("mmau_test_mni")
    assert caught.value.suggestions == ("mmau_test_mini",)
    assert "Did you mean 'mmau_test_mini'?" in str(caught.value)
    assert "Available: librispeech_test_clean, mmau_test_mini." in str(caught.value)


def test_lazy_entries_import_only_when_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lazy_target_module.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry: Registry[int] = Registry("value")
    registry.register("answer", "lazy_target_module:VALUE", description="the answer")
    assert registry.entries()[0].description == "the answer"
    assert "lazy_target_module" not in sys.modules
    assert registry.get("answer") == 42
    assert "lazy_target_module" in sys.modules
    assert not registry.entry("answer").is_lazy


def test_lazy_entries_are_validated_when_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lazy_bad_module.py").write_text("VALUE = 'text'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry: Registry[int] = Registry("value", accept=lambda v: None if isinstance(v, int) else "not an int")
    registry.register("bad", "lazy_bad_module:VALUE")
    with pytest.raises(RegistryError, match="value 'bad': not an int"):
        registry.get("bad")


def test_malformed_lazy_paths_are_rejected() -> None:
    registry: Registry[int] = Registry("value")
    registry.register("broken", "no_colon_here")
    with pytest.raises(RegistryError, match=r"package\.module:attribute"):
        registry.get("broken")


def _fake_distribution(root: Path, group: str, lines: list[str]) -> None:
    info = root / "fakeplugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeplugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n" + "\n".join(lines) + "\n")


def test_plugins_register_through_entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "fakeplugin_module.py").write_text(
        textwrap.dedent('''
        def fancy(spec, device):
            """A fancy plugin model."""
    ''')
    )
    _fake_distribution(
        tmp_path, "test.registry.plugins", ["fancy = fakeplugin_module:fancy", "missing = fakeplugin_module:nope"]
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry: Registry[object] = Registry("model", entry_point_group="test.registry.plugins")
    registry.register("builtin", object())
    assert "fancy" in registry  # a lookup miss loads the plugins
    assert registry.entry("fancy").description == "A fancy plugin model."
    assert registry.entry("fancy").origin.startswith("entry point fancy")
    assert "missing" not in registry  # a broken plugin is skipped with a warning, not fatal


def test_unregister_removes_an_entry() -> None:
    registry: Registry[int] = Registry("number")
    registry.register("one", 1)
    registry.unregister("one")
    assert "one" not in registry
    with pytest.raises(UnknownNameError):
        registry.unregister("one")
