"""Wire constants, kept apart from the pydantic models so reading records (`get`,
`describe`, the planner) does not pay for building the models (~170 ms at start-up)."""

API_VERSION = "agenttower.dev/v1alpha1"
PRUNE_ANNOTATION = "agenttower.dev/prune"
