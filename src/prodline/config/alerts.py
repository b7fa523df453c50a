"""The `alerts` section: who is told by e-mail when something breaks or the champion moves."""

from typing import Any

from pydantic import Field, model_validator

from prodline.config.base import Strict


class RecipientsConfig(Strict):
    run_failure: list[str] = []  # a run failed (after its retries)
    check_failure: list[str] = []  # an asset check failed with WARN or ERROR severity
    promotion: list[str] = []  # the champion moved: a promotion or a rollback
    # A sensor or schedule failed to tick (or ticks again); left out, the run_failure addresses.
    tick_failure: list[str] = []

    @model_validator(mode="before")
    @classmethod
    def _ticks_go_where_runs_go(cls, data: Any) -> Any:
        runs = data.get("run_failure", []) if isinstance(data, dict) else None
        if isinstance(runs, list) and "tick_failure" not in data:  # a wrong run_failure is one error
            return {**data, "tick_failure": runs}
        return data


class AlertsConfig(Strict):
    """The server comes from the environment: PRODLINE_SMTP_HOST, _PORT, _SECURITY (plain, starttls
    or ssl), _USER and _PASSWORD (both optional)."""

    base_url: str = "http://127.0.0.1:3000"  # the Dagster UI, for links to runs
    sender: str = "prodline@localhost"
    recipients: RecipientsConfig = RecipientsConfig()
    minimum_interval_seconds: int = Field(default=30, ge=5, le=86_400)
