"""Asset keys of tables, so that a `raw.x` or `transforms.y` named in config or SQL finds its asset."""

import dagster as dg

from prodline.assets.raw import raw_key


def transform_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["transforms", name])


def table_key(reference: str) -> dg.AssetKey:
    schema, name = reference.split(".")
    return raw_key(name) if schema == "raw" else transform_key(name)
