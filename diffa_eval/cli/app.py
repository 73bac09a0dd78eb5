"""The `diffa-eval` Typer application, its entry point, and the helpers its commands share.

Heavy modules (numpy, torch, datasets) are imported inside the commands, so `--help` is instant.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from ..task import Task

app = typer.Typer(
    name="diffa-eval",
    help="Evaluate audio-language models (diffusion and autoregressive) on audio benchmarks, scored exactly "
    "as the official scripts score them. `diffa-eval list tasks` shows the benchmarks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def installed_version() -> str:
    """diffa-eval's version as installed (the package's own when its metadata cannot be read)."""
    from importlib.metadata import PackageNotFoundError, version

    from .. import __version__

    try:
        return version("diffa-eval")
    except PackageNotFoundError:
        return __version__


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"diffa-eval {installed_version()}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print diffa-eval's version and exit."),
    ] = False,
) -> None:
    # The commands are in the modules of this package; this only adds the application's own options.
    pass


def main() -> None:
    """Console entry point: diffa-eval's own errors print as one clear line and exit 2."""
    from ..errors import DiffaEvalError

    try:
        app()
    except DiffaEvalError as error:
        console(stderr=True).print(f"[red]error:[/red] {escape(str(error))}", highlight=False, soft_wrap=True)
        sys.exit(2)


def escape(text: str) -> str:
    """Text shown as is by rich (square brackets are markup otherwise)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def console(stderr: bool = False) -> Console:
    """The console for a command's output. Off a terminal (a Slurm log, a pipe) lines of text are written
    whole, for grep and wide editors, instead of broken at rich's default of 80 columns; tables still fit it."""
    from rich.console import Console

    out = Console(stderr=stderr)
    if not out.is_terminal:
        out.soft_wrap = True
    return out


def setup_logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=console(stderr=True), show_path=False, show_time=False)],
        force=True,
    )


def load_task_dirs(folders: list[Path] | None) -> None:
    from ..task import add_tasks_dir

    for folder in folders or ():
        add_tasks_dir(folder)


def single_task(name: str) -> Task:
    from ..task import TASKS

    return TASKS.get(name)


def split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def check_output_file(path: Path, option: str) -> None:
    """Fail before any work, in one line, when `path` cannot be written (a missing folder is created)."""
    import errno
    import os
    import tempfile

    from ..errors import StoreError

    try:
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".probe"):
            pass  # the file is written atomically, by a rename in this folder
    except OSError as error:
        raise StoreError(f"cannot write {option} {path}: {error.strerror or error}") from None


def write_text(path: Path, text: str) -> None:
    """Write a report file atomically; a failure is one clear error."""
    from ..files import atomic_write_text, writing

    with writing(path, resumable=False):
        atomic_write_text(path, text)


def clip(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_options(items: list[str]) -> dict[str, Any]:
    """KEY=VALUE pairs; a VALUE that parses as JSON (16, 0.9, true, "x") takes that type."""
    from ..errors import ConfigError

    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option expects KEY=VALUE, got {item!r}")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options
