"""A fingerprint of a day's rows that DuckDB and PostgreSQL compute alike: the data version of an
as-of partition (cohort, labels, features), which names the matrices built from it.

Each row becomes one text, `name=value` for every column that is not NULL, in the order of the
column names (so a column added later, empty on old rows, changes none of them, and neither does
the order columns are stored in). A value's text is the same on both engines: doubles are written
without the `.0` DuckDB adds to whole numbers (PostgreSQL writes 1, DuckDB 1.0), and infinities in
one spelling. The row's MD5 gives a 60-bit integer; the day's fingerprint is its row count and the
sum of those integers, which no order of rows changes and any added, removed or edited row does.
(A double from 1e15 to 1e16 with a fraction is written differently by the two engines: such a
value is far beyond any feature's scale.)
"""

# information_schema's names for floating-point columns, on either engine (lowercase)
FLOATS = {"double precision", "real", "double", "float", "float4", "float8"}
SEPARATOR = "chr(31)"  # the ASCII unit separator: between two values of a row


def _value(name: str, kind: str) -> str:
    column = '"' + name.replace('"', '""') + '"'
    if kind in FLOATS:
        number = f"CAST({column} AS DOUBLE PRECISION)"
        text = (f"CASE WHEN {number} = trunc({number}) AND abs({number}) < 1e16 "
                f"THEN CAST(CAST({number} AS BIGINT) AS VARCHAR) "
                f"ELSE replace(lower(CAST({number} AS VARCHAR)), 'infinity', 'inf') END")
    else:
        text = f"CAST({column} AS VARCHAR)"
    label = name.replace("'", "''")
    return f"'{label}=' || {text}"  # NULL when the value is: concat_ws leaves it out


def row_text(columns: dict[str, str]) -> str:
    """The SQL text of a row of a table with these columns (name to information_schema type)."""
    values = ", ".join(_value(n, columns[n].lower()) for n in sorted(columns))
    return f"concat_ws({SEPARATOR}, {values})"


def row_number(backend: str, text: str) -> str:
    """The first 60 bits of the MD5 of `text`, as a BIGINT, on either engine."""
    prefix = f"substr(md5({text}), 1, 15)"
    if backend == "postgresql":
        return f"CAST(CAST('x' || {prefix} AS BIT(60)) AS BIGINT)"
    return f"CAST('0x' || {prefix} AS BIGINT)"
