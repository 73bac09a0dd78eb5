"""The built-in benchmarks, one package each: mmau, mmsu, mmar, voicebench, librispeech.

A benchmark's package holds everything about it: loading (hub, local copy, the bundled `samples/`
split), prompts and the model families' prompt variants, the scoring protocol and its rules, the
leaderboard layout and group scores. `diffa_eval` itself holds only what benchmarks share.

This folder is imported as `diffa_eval._builtin_tasks` (in a checkout and in an installed wheel);
reach a module of it with `diffa_eval.task.builtin_module`, e.g. `builtin_module("voicebench.evaluators")`.
"""
