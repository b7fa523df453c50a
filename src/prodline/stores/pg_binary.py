"""Columns to and from PostgreSQL in COPY's binary format, parsed and built by numpy.

The feature engine moves millions of rows of numbers each way (the partials out, the windows in).
Text costs PostgreSQL a float formatting or parsing per value; the binary format is each value's
bytes with a length in front. Every row has fixed-width columns and no NULL (the partials' SQL
guarantees it; a NULL float goes in as NaN), so a block of rows is one numpy array.
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
ROWS = 4096


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
    """Append a batch (date32, integer and float64 columns) to `table`, whose columns have the
    batch's names and PostgreSQL's matching types. A NULL float goes as NaN (every row then has
    the same width, and numpy builds them a block at a time): the reader turns NaN back into NULL
    (`nan_is_null`). A NULL date or integer is refused."""
    columns = []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if pa.types.is_floating(column.type):
            data = column.cast(pa.float64()).fill_null(np.nan).to_numpy()
        elif column.null_count:
            raise ValueError(f"binary COPY into {table}: {name} has NULLs")
        elif pa.types.is_date32(column.type):
            data = column.cast(pa.int32()).to_numpy() - np.int32(PG_EPOCH_DAYS)
        else:
            data = column.cast(pa.int64()).to_numpy()
        big = data.astype(data.dtype.newbyteorder(">"))
        columns.append(big.view(np.uint8).reshape(len(big), big.itemsize))
    width = 2 + sum(4 + c.shape[1] for c in columns)
    rows = np.empty((batch.num_rows, width), np.uint8)
    header = [np.frombuffer(struct.pack("!h", len(columns)), np.uint8)]
    header += [np.frombuffer(struct.pack("!i", c.shape[1]), np.uint8) for c in columns]
    for first in range(0, batch.num_rows, ROWS):  # a block of rows at a time stays in the cache
        block, at = rows[first:first + ROWS], 2
        block[:, :2] = header[0]
        for length, column in zip(header[1:], columns, strict=True):
            block[:, at:at + 4] = length
            block[:, at + 4:at + 4 + column.shape[1]] = column[first:first + ROWS]
            at += 4 + column.shape[1]
    body = io.BytesIO()
    body.write(SIGNATURE)
    body.write(rows.data)
    body.write(b"\xff\xff")
    body.seek(0)
    names = ", ".join(f'"{n}"' for n in batch.schema.names)
    # psycopg2 reads the file 8 KB at a time unless told otherwise: a Python call per 8 KB.
    cursor.copy_expert(f"COPY {table} ({names}) FROM STDIN WITH (FORMAT binary)", body, size=8 << 20)


def nan_is_null(column: str) -> str:
    """A float column written by `copy_in`, read back with its NULLs."""
    return f"NULLIF({column}, CAST('NaN' AS DOUBLE PRECISION))"
