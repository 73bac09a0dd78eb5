"""`python -m diffa_eval` runs the command-line interface."""

from .cli import main

main()
