"""The Dagster face of each store: the plain class of `prodline.stores`, configurable in Dagster.

Each resource is the store itself (it subclasses it), so an asset calls the store's own methods and
the serving app and the CLI use the same classes without importing Dagster.
"""

import dagster as dg

from prodline.stores.landing import LandingZone
from prodline.stores.matrix_store import MatrixStore
from prodline.stores.model_store import ModelStore
from prodline.stores.source_database import SourceDatabase
from prodline.stores.warehouse import Warehouse

POOL = "warehouse"  # every asset that writes to the warehouse takes a slot of this pool


class WarehouseResource(Warehouse, dg.ConfigurableResource):
    """The SQL warehouse (DuckDB or PostgreSQL): one schema per layer, idempotent window writes."""


class ModelStoreResource(ModelStore, dg.ConfigurableResource):
    """MLflow: runs, model artifacts and the registry's aliases."""


class MatrixStoreResource(MatrixStore, dg.ConfigurableResource):
    """The matrices of each split and the models' stored test scores."""


class LandingZoneResource(LandingZone, dg.ConfigurableResource):
    """Daily files in, refused files out to quarantine (arrival `files`)."""


class SourceDatabaseResource(SourceDatabase, dg.ConfigurableResource):
    """A team's operational database, read one datestamp at a time (arrival `query`)."""
