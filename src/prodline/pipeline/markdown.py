"""Markdown tables for what the UI shows beside an asset, a check or a run."""

import pyarrow as pa


def table(rows: list[dict]) -> str:
    """Rows of dicts (the first row's keys are the columns) as a markdown table; `|` in a value
    would split its cell, so it is shown as `/`."""
    if not rows:
        return "(none)"
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += [
        "| " + " | ".join("" if r[h] is None else str(r[h]).replace("|", "/") for h in head) + " |"
        for r in rows
    ]
    return "\n".join(lines)


def arrow_table(rows: pa.Table) -> str:
    """An Arrow table's rows, every column shown."""
    if not rows.num_rows:
        return "| " + " | ".join(rows.column_names) + " |\n|" + " --- |" * rows.num_columns
    return table(rows.to_pylist())
