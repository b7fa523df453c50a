"""Columns to and from PostgreSQL in COPY's binary format, parsed and built by numpy.

The feature engine moves millions of rows of numbers each way (the partials out, the windows in).
Text costs PostgreSQL a float formatting or parsing per value; the binary format is each value's
bytes with a length in front. Every row has fixed-width columns and no NULL (the partials' SQL
guarantees it; rows in with a NULL go by INSERT), so a block of rows is one numpy array.
"""

import io
import struct

import numpy as np
import pyarrow as pa

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
PG_EPOCH_DAYS = 10_957  # 2000-01-01, PostgreSQL's day 0, in days from 1970-01-01
# type OID -> (numpy big-endian type, Arrow type)
TYPES = {21: (">i2", pa.int16()), 23: (">i4", pa.int32()), 20: (">i8", pa.int64()),
         700: (">f4", pa.float32()), 701: (">f8", pa.float64()), 1082: (">i4", pa.date32())}
ROWS = 2048  # rows encoded at a time


def copy_out(cursor, sql: str) -> pa.Table:
    """The rows of `sql` (fixed-width columns, no NULL) as an Arrow table. psycopg2 hands COPY's
    output to `write` a row at a time: a BytesIO takes them without a Python call each (a
    Python `write` cost 5 s for 5 million rows), at the cost of holding them all once."""
    cursor.execute(f"SELECT * FROM ({sql}) AS q LIMIT 0")
    names, oids = [d.name for d in cursor.description], [d.type_code for d in cursor.description]
    missing = [f"{n} (type {o})" for n, o in zip(names, oids, strict=True) if o not in TYPES]
    if missing:
        raise TypeError(f"binary COPY of columns {', '.join(missing)} is not supported")
    fields = [("_n", ">i2")]
    for n, o in zip(names, oids, strict=True):
        fields += [(f"_l{n}", ">i4"), (n, TYPES[o][0])]
    dtype = np.dtype(fields)
    out = io.BytesIO()
    cursor.copy_expert(f"COPY ({sql}) TO STDOUT WITH (FORMAT binary)", out)
    data = out.getbuffer()
    if bytes(data[:11]) != SIGNATURE[:11] or bytes(data[-2:]) != b"\xff\xff":
        raise ValueError("not COPY's binary format")
    start = 19 + struct.unpack("!i", data[15:19])[0]
    if (len(data) - start - 2) % dtype.itemsize:
        raise ValueError("binary COPY: a NULL or a row of another shape among fixed-width columns")
    rows = np.frombuffer(data, dtype, (len(data) - start - 2) // dtype.itemsize, start)
    if (rows["_n"] != len(names)).any() or any((rows[f"_l{n}"] != dtype[n].itemsize).any() for n in names):
        raise ValueError("binary COPY: a NULL or a row of another shape among fixed-width columns")
    arrays = []
    for n, o in zip(names, oids, strict=True):
        values = rows[n].astype(rows[n].dtype.newbyteorder("="))
        if o == 1082:
            arrays.append(pa.array((values + PG_EPOCH_DAYS).astype(np.int32)).cast(pa.date32()))
        else:
            arrays.append(pa.array(values, TYPES[o][1]))
    del rows, data
    return pa.table(arrays, names=names)


def copy_in(cursor, table: str, batch: pa.RecordBatch) -> None:
    """Append a batch (date32, integer and float columns) to `table`, whose columns have the
    batch's names and PostgreSQL's matching types. The rows are encoded as psycopg2 reads them,
    while the server stores the last. A row with a NULL (rare here: a cohort row without an
    entity) goes by an INSERT of its own, so that every row copied has the same width."""
    names = ", ".join(f'"{n}"' for n in batch.schema.names)
    whole = np.ones(batch.num_rows, bool)
    for column in batch.columns:
        if column.null_count:
            whole &= column.is_valid().to_numpy(zero_copy_only=False)
    if not whole.all():
        holes = batch.filter(pa.array(~whole))
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * batch.num_columns)})",
                           [list(row.values()) for row in holes.to_pylist()])
        batch = batch.filter(pa.array(whole))
    columns = []
    for column in batch.columns:
        if pa.types.is_floating(column.type):
            columns.append(column.cast(pa.float64()).to_numpy().astype(">f8"))
        elif pa.types.is_date32(column.type):
            columns.append((column.cast(pa.int32()).to_numpy() - np.int32(PG_EPOCH_DAYS)).astype(">i4"))
        elif pa.types.is_int32(column.type):
            columns.append(column.to_numpy().astype(">i4"))
        else:
            columns.append(column.cast(pa.int64()).to_numpy().astype(">i8"))
    cursor.copy_expert(f"COPY {table} ({names}) FROM STDIN WITH (FORMAT binary)", _Encoded(columns),
                       size=ROWS * 1024)


class _Encoded:
    """COPY's binary rows of a batch's columns, a block of rows per `read`. Each row is the same
    bytes but for the values: a template row, then each column's values written into the block
    (a block small enough for the cache: the same writes over the whole batch took seconds)."""

    def __init__(self, columns: list[np.ndarray]):
        self.columns, self.rows, self.at = columns, len(columns[0]) if columns else 0, 0
        template = struct.pack("!h", len(columns))
        self.offsets = []
        for column in columns:
            template += struct.pack("!i", column.itemsize)
            self.offsets.append(len(template))
            template += bytes(column.itemsize)
        self.template = np.frombuffer(template, np.uint8)
        self.parts = [SIGNATURE]

    def read(self, size: int = -1) -> bytes:
        if self.parts:
            return self.parts.pop()
        if self.at > self.rows:
            return b""
        if self.at == self.rows:
            self.at += 1
            return b"\xff\xff"
        first, last = self.at, min(self.at + ROWS, self.rows)
        block = np.empty((last - first, len(self.template)), np.uint8)
        block[:] = self.template
        for column, at in zip(self.columns, self.offsets, strict=True):
            block[:, at:at + column.itemsize] = column[first:last].view(np.uint8).reshape(-1, column.itemsize)
        self.at = last
        return block.tobytes()
