"""`python -m agenttower` runs the CLI (handy where the console script is not on PATH)."""

from agenttower.cli.main import main

main()
