"""The one place that maps a source's arrival mode to what implements it: the resource that reads
it (a `prodline.pipeline.protocols.Arrival`), the job that loads such sources and how the UI tags it."""

from dataclasses import dataclass

from prodline.config import SourceConfig


@dataclass(frozen=True)
class ArrivalMode:
    resource_key: str  # the resource whose `read_range` reads the source
    kind: str  # shown on the asset in the UI
    job: str  # the job that loads every source arriving this way
    quarantines: bool  # refused input is moved aside (files), rather than left where it is (a query)


ARRIVALS = {
    "files": ArrivalMode("landing_zone", "file", "ingest_landing_files", quarantines=True),
    "query": ArrivalMode("source_database", "database", "ingest_source_database", quarantines=False),
    # A table the team's ETL fills, observed where it is (nothing is read out of it but counts).
    "warehouse": ArrivalMode("warehouse", "warehouse", "observe_warehouse_tables", quarantines=False),
}


def arrival_of(source: SourceConfig) -> ArrivalMode:
    return ARRIVALS[source.arrival]
