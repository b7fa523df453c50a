"""The `matrices` asset: a split's training and test matrices, streamed from the warehouse into
Parquet files named by their definition (see `prodline.pipeline.matrices.files`)."""

import itertools
import json

import dagster as dg
import pyarrow as pa

from prodline.assets.as_of import COHORT, COHORT_TABLE, LABELS, LABELS_TABLE, feature_key
from prodline.assets.modeling import MATRICES, _asset, _png_markdown, _table, current_splits
from prodline.config import ProjectConfig
from prodline.home import home_of
from prodline.pipeline.matrices.files import KEYS, MatrixSpec, existing, matrix_selects, write_matrix
from prodline.pipeline.matrices.splits import Split
from prodline.pipeline.matrices.timeline import timeline_png
from prodline.resources.warehouse import POOL


def matrix_specs(config: ProjectConfig, warehouse, splits: list[Split]) -> dict[str, tuple]:
    """Per split key, (training matrix, test matrices), with the feature columns the tables have now."""
    spec = spec_maker(config, warehouse)
    missing = config.label.missing
    return {
        split.key: (
            spec("train", split.train.as_of_dates, missing.train),
            [spec("test", t.as_of_dates, missing.test) for t in split.tests],
        )
        for split in splits
    }


def spec_maker(config: ProjectConfig, warehouse):
    """A function (kind, dates, missing) -> MatrixSpec over the feature columns the tables have now:
    what the splits' matrices are made of, and the one-date matrices that predictions score."""
    tables = tuple(
        (f"features.{f.prefix}", tuple(c for c in warehouse.columns("features", f.prefix) if c not in KEYS))
        for f in config.features
    )
    label = config.label
    definition = json.dumps(
        {
            "cohort": config.cohort.sql(),
            "label": [label.sql(), label.name, label.timespan],
            "features": [f.model_dump(mode="json") for f in config.features],
        },
        sort_keys=True,
        default=str,
    )

    def spec(kind: str, dates, missing: str) -> MatrixSpec:
        return MatrixSpec(kind, tuple(dates), label.name, label.timespan, missing, tables, definition)

    return spec


def build_matrix(warehouse, folder, spec: MatrixSpec, reuse: bool = True) -> tuple[dict, bool]:
    """(manifest, reused): the matrix with this definition if it exists (and `reuse`), else built."""
    if reuse and (manifest := existing(folder, spec)) is not None:
        return manifest, True
    entity = entity_type(warehouse)
    return write_matrix(stream_matrix(warehouse, spec, entity), folder, spec, spec.schema(entity)), False


def missing_inputs(warehouse, config: ProjectConfig, splits: list[Split]) -> list[str]:
    """As-of partitions the splits need that are not in the warehouse yet, per split and table
    (one query per table for all the splits)."""
    wanted = {d for s in splits for d in s.as_of_dates}
    problems = []
    for table in [COHORT_TABLE, LABELS_TABLE, *(f"features.{f.prefix}" for f in config.features)]:
        have = set()
        if warehouse.columns(*table.split(".")):
            found = warehouse.rows(
                f"SELECT DISTINCT as_of_date FROM {table} WHERE as_of_date BETWEEN :s AND :e",
                s=min(wanted),
                e=max(wanted),
            )
            have = {r["as_of_date"] for r in found}
        for split in splits:
            if lacking := sorted(set(split.as_of_dates) - have):
                problems.append(
                    f"split {split.key}: {table} has no rows for {len(lacking)} date(s): "
                    + ", ".join(map(str, lacking[:6]))
                    + (", ..." if len(lacking) > 6 else "")
                )
    return problems


def matrices_asset(config: ProjectConfig, splits: dict[str, Split], partitions) -> dg.AssetsDefinition:
    deps = [COHORT, LABELS, *(feature_key(f.prefix) for f in config.features)]

    @_asset(
        key=MATRICES,
        partitions_def=partitions,
        required_resource_keys={"warehouse"},
        kinds={"parquet"},
        pool=POOL,
        deps=[dg.AssetDep(k, partition_mapping=dg.AllPartitionMapping()) for k in deps],
        description="Training and test matrices of a split (Parquet, with a manifest each).",
    )
    def matrices(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        warehouse, folder = context.resources.warehouse, home_of(config).matrices
        known = splits or {s.key: s for s in current_splits(config, warehouse)}
        if unknown := [k for k in context.partition_keys if k not in known]:
            raise dg.Failure(
                description=f"no split {', '.join(unknown)} in the config's splits", allow_retries=False
            )
        chosen = [known[k] for k in context.partition_keys]
        if problems := missing_inputs(warehouse, config, chosen):
            raise dg.Failure(
                description="the splits need as-of partitions that are not built yet "
                "(materialize cohort, labels and features for them first):\n" + "\n".join(problems),
                allow_retries=False,
            )
        specs = matrix_specs(config, warehouse, chosen)
        built = []
        for split in chosen:
            train, tests = specs[split.key]
            for spec in [train, *tests]:
                manifest, reused = build_matrix(warehouse, folder, spec)
                built.append(
                    {
                        "split": split.key,
                        "kind": spec.kind,
                        "uuid": spec.uuid,
                        "rows": manifest["rows"],
                        **manifest["labels"],
                        "reused": reused,
                    }
                )
            _write_split_index(folder, split.key, train, tests)
        return dg.MaterializeResult(
            metadata={
                "matrices": dg.MetadataValue.md(_table(built)),
                "rows": sum(b["rows"] for b in built),
                "reused": sum(b["reused"] for b in built),
                "timeline": _png_markdown(timeline_png(chosen, f"{len(chosen)} split(s)"), "splits"),
            }
        )

    return matrices


def stream_matrix(warehouse, spec: MatrixSpec, entity: pa.DataType, batch_rows: int = 4_096):
    """The matrix's rows as Arrow batches, one as-of date after the other (see `matrix_selects`)."""
    schema = spec.schema(entity)
    return itertools.chain.from_iterable(
        warehouse.stream(q, schema, batch_rows) for q in matrix_selects(spec, COHORT_TABLE, LABELS_TABLE)
    )


def entity_type(warehouse) -> pa.DataType:
    kind = warehouse.columns("features", "cohort").get("entity_id", "bigint")
    return pa.string() if "char" in kind or kind == "text" else pa.int64()


def _write_split_index(folder, key: str, train: MatrixSpec, tests: list[MatrixSpec]) -> None:
    path = folder / "splits" / f"{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"train": train.uuid, "tests": [t.uuid for t in tests]}))
