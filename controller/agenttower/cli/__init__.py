"""The `agenttower` command line: verbs, output formats, exit codes.

Heavy imports (pydantic, rich) happen inside the verbs so `--help` stays fast.
"""
