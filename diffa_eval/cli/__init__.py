"""The `diffa-eval` command line: run, sweep, compare-backends, merge, list, score, table, plots, compare, bench
and exports.

`app` defines the application and its entry point `main`; each module below adds its commands:
`run` (run, sweep, compare-backends, on the shared options of `options`), `results` (table, plots,
compare, merge), `inspect` (list, score), `bench` and `export` (export-dataset, export-wandb). Heavy modules
are imported inside the commands, so `--help` is instant.
"""

from __future__ import annotations

from . import bench, export, inspect, results, run

# isort: off (the commands are listed on --help in the order their modules register them)
from .app import app, main

# isort: on

__all__ = ["app", "bench", "export", "inspect", "main", "results", "run"]
