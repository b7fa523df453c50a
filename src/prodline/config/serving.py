"""The `serving` section: how `prodline serve` offers the champion's list and scores."""

from pydantic import Field, model_validator

from prodline.config.base import ApiTokenEnv, Identifier, Located, Strict, check_placeholders
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
    max_k: int = Field(default=10_000, ge=1, le=1_000_000)  # the longest list GET /risk-list returns at once
    poll_seconds: float = Field(default=10.0, ge=0.1, le=3600)  # how often the champion alias is looked at
    # Every request but /health needs this environment variable's value as a bearer token (or the
    # page's login cookie); the server refuses to start without it unless `open` says so.
    token_env: ApiTokenEnv = "PRODLINE_API_TOKEN"
    # Serve without a token, on purpose (a local demo): anyone who can reach the address reads the lists.
    open: bool = False
    # A larger request body is refused (413) before it is read or parsed. The default holds a full
    # batch of the demo's rows (1000 rows of 90 features: 3.3 MB as JSON).
    max_body_bytes: int = Field(default=4 * 2**20, ge=1024, le=2**30)
    attributes: AttributesConfig | None = None
