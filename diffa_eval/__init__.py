"""diffa-eval: a benchmark harness for large audio-language models, diffusion and autoregressive.

Importing the package is cheap: models, tasks and torch load only when used.
"""

__version__ = "0.1.0"
