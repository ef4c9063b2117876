"""`python -m cyberscan` runs the command-line interface."""

from .cli import main

main()
