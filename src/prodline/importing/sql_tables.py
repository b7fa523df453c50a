"""The tables a Triage config's SQL reads, found by parsing it (sqlglot), never by pattern: each
query with the Triage key path it is written at."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prodline.config.sql_guard import named_tables
from prodline.importing.sources import Reads


def tables_read(sql: str) -> list[tuple[str, str]] | None:
    """(schema, name) of every table `sql` reads, in order ('' for no schema); None when it does not
    parse (validation says why). Unlike `config.sql_guard.tables_read`, a table named without its
    schema is kept: the import says to qualify it, where the project can only leave it out."""
    return named_tables(sql)


def queries(config: dict, base_dir: Path) -> Iterator[tuple[str, str]]:
    """(Triage key path, SQL) of every query in a Triage experiment config: cohort, label, each
    from_obj (as Triage runs it, after FROM), choice queries, scoring subsets, the bias audit's."""
    for key in ("cohort_config", "label_config"):
        section = config.get(key)
        if isinstance(section, dict):
            if isinstance(section.get("query"), str):
                yield f"{key}.query", section["query"]
            elif isinstance(name := section.get("filepath"), str) and (text := read_sql_file(base_dir, name)):
                yield f"{key}.filepath", text
    for i, aggregation in enumerate(_list(config.get("feature_aggregations"))):
        if isinstance(from_obj := aggregation.get("from_obj"), str):
            yield f"feature_aggregations[{i}].from_obj", f"SELECT * FROM {from_obj}"
        for kind in ("categoricals", "array_categoricals"):
            for j, categorical in enumerate(_list(aggregation.get(kind))):
                if isinstance(query := categorical.get("choice_query"), str):
                    yield f"feature_aggregations[{i}].{kind}[{j}].choice_query", query
    scoring = config.get("scoring") if isinstance(config.get("scoring"), dict) else {}
    for i, subset in enumerate(_list(scoring.get("subsets"))):
        if isinstance(subset.get("query"), str):
            yield f"scoring.subsets[{i}].query", subset["query"]
    bias = config.get("bias_audit_config") if isinstance(config.get("bias_audit_config"), dict) else {}
    if isinstance(bias.get("from_obj_table"), str):
        yield "bias_audit_config.from_obj_table", f"SELECT * FROM {bias['from_obj_table']}"
    if isinstance(bias.get("from_obj_query"), str):
        yield "bias_audit_config.from_obj_query", bias["from_obj_query"]


def reads_of(config: dict, base_dir: Path) -> Reads:
    """Every table the config's SQL reads, with the keys that read it, and the knowledge date column
    of each feature aggregation (and the bias audit) that reads it."""
    tables: dict[tuple[str, str], list[str]] = {}
    for key, sql in queries(config, base_dir):
        for table in tables_read(sql) or []:  # SQL that does not parse: validation says why
            tables.setdefault(table, []).append(key)
    knowledge: dict[tuple[str, str], list[tuple[str, str, bool]]] = {}
    dated = [(f"feature_aggregations[{i}]", a.get("from_obj"), a.get("knowledge_date_column"))
             for i, a in enumerate(_list(config.get("feature_aggregations")))]
    bias = config.get("bias_audit_config")
    if isinstance(bias, dict):
        query = bias.get("from_obj_query")
        from_obj = bias.get("from_obj_table") or (f"({query}) AS q" if isinstance(query, str) else None)
        dated.append(("bias_audit_config", from_obj, bias.get("knowledge_date_column")))
    for key, from_obj, column in dated:
        if not isinstance(from_obj, str) or not isinstance(column, str):
            continue
        read = tables_read(f"SELECT * FROM {from_obj}") or []
        for table in read:
            knowledge.setdefault(table, []).append((key, column, len(read) == 1))
    return Reads(tables, knowledge)


def sql_file(base_dir: Path, name: str) -> Path | None:
    """A cohort or label filepath: beside the experiment file, else in the working directory (where
    Triage reads it from); None when neither has it."""
    for folder in (base_dir, Path.cwd()):
        if (folder / name).is_file():
            return (folder / name).resolve()
    return None


def read_sql_file(base_dir: Path, name: str) -> str | None:
    path = sql_file(base_dir, name)
    return path.read_text() if path is not None else None


def _list(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
