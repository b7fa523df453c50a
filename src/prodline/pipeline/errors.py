"""The error a step raises when it cannot go on for a reason a retry will not cure."""


class StepRefused(Exception):
    """Its message says what is missing or wrong and what to do (for example "split 2024-06-01 has no
    matrices yet: materialize matrices for it first"); the Dagster layer shows it as it is and does
    not retry. `metadata` is shown beside it."""

    def __init__(self, message: str, metadata: dict | None = None):
        super().__init__(message)
        self.metadata = metadata or {}


class RegistryError(LookupError):
    """The model registry has no such model or version (the registry's own errors stay in its store)."""
