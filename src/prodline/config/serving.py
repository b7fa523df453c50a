"""The `serving` section: how `prodline serve` offers the champion's list and scores."""

from pydantic import Field, model_validator

from prodline.config.base import Identifier, Located, Strict, check_placeholders
from prodline.config.sql_guard import refuse_writes


class AttributesConfig(Strict):
    """What people see beside each entity on the list, and may filter it by. `query` returns
    entity_id and one column per attribute on `{as_of_date}`; `filters` names the columns the list
    can be filtered on (`/risk-list?region=north`)."""

    query: str
    filters: list[Identifier] = []

    @model_validator(mode="after")
    def _sql(self) -> "AttributesConfig":
        try:
            check_placeholders(self.query, {"as_of_date"}, {"as_of_date"})
        except ValueError as err:
            raise Located([(("query",), str(err))]) from None
        refuse_writes(self.query, "query")
        return self


class ServingConfig(Strict):
    max_batch: int = Field(default=1000, ge=1, le=100_000)  # rows or entity ids in one POST /score
    page_size: int = Field(default=50, ge=1, le=1000)  # rows per page of the web page's list
    max_k: int = Field(default=10_000, ge=1)  # the longest list GET /risk-list returns at once
    poll_seconds: float = Field(default=10.0, gt=0)  # how often the champion alias is looked at
    # When this environment variable is set, every request but /health needs its value as a bearer
    # token (or the page's login cookie).
    token_env: str = "PRODLINE_API_TOKEN"
    attributes: AttributesConfig | None = None
