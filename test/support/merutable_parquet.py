"""Parquet files as merutable writes them, and an independent reader of them.

Two tools tidemark's tests do not write themselves: Apache Arrow's pyarrow
(the reference Parquet writer) and DuckDB (an independent Parquet reader).

    python merutable_parquet.py write < {"root": DIR, "files": [{"path", "first_id", "rows", "seq"}]}
        writes each file under DIR (Snappy, merutable's internal columns
        _merutable_ikey/_seq/_op/_value, then the user columns id, payload)
        and prints [{"path", "size", "rows", "key_min", "key_max"}] (keys hex).
    python merutable_parquet.py read < {"files": [ABSOLUTE PATHS]}
        prints {"rows": N, "columns": [...], "codecs": [...], "ids": [min, max]}
        as DuckDB reads them.

Column layout: merutable's parquet/writer.rs and iceberg/catalog.rs (internal
columns first, then the table's columns); compression Snappy as merutable sets it.
"""

import json
import os
import struct
import sys


def write(spec):
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            pa.field("_merutable_ikey", pa.binary(), nullable=False),
            pa.field("_merutable_seq", pa.int64(), nullable=False),
            pa.field("_merutable_op", pa.int32(), nullable=False),
            pa.field("_merutable_value", pa.binary(), nullable=False),
            pa.field("id", pa.int64(), nullable=False),
            pa.field("payload", pa.binary(), nullable=True),
        ]
    )
    out = []
    for f in spec["files"]:
        ids = list(range(f["first_id"], f["first_id"] + f["rows"]))
        seq = f["seq"]
        # The internal key: the user key (big-endian id) and the sequence number.
        ikeys = [struct.pack(">q", i) + struct.pack(">Q", seq) for i in ids]
        payload = [None if i % 7 == 0 else ("payload %d" % i).encode() for i in ids]
        table = pa.table(
            {
                "_merutable_ikey": ikeys,
                "_merutable_seq": [seq] * len(ids),
                "_merutable_op": [1] * len(ids),
                "_merutable_value": [struct.pack(">q", i) + (p or b"") for i, p in zip(ids, payload)],
                "id": ids,
                "payload": payload,
            },
            schema=schema,
        )
        path = os.path.join(spec["root"], f["path"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        pq.write_table(table, path, compression="snappy")
        out.append(
            {
                "path": f["path"],
                "size": os.path.getsize(path),
                "rows": len(ids),
                "key_min": struct.pack(">q", ids[0]).hex(),
                "key_max": struct.pack(">q", ids[-1]).hex(),
            }
        )
    return out


def read(spec):
    import duckdb

    con = duckdb.connect()
    files = spec["files"]
    rows, lo, hi = con.execute(
        "SELECT count(*), min(id), max(id) FROM read_parquet(?)", [files]
    ).fetchone()
    columns = [d[0] for d in con.execute("SELECT * FROM read_parquet(?) LIMIT 0", [files]).description]
    codecs = sorted(
        {
            r[0]
            for r in con.execute(
                "SELECT DISTINCT compression FROM parquet_metadata(?)", [files]
            ).fetchall()
        }
    )
    return {"rows": rows, "columns": columns, "codecs": codecs, "ids": [lo, hi]}


if __name__ == "__main__":
    spec = json.load(sys.stdin)
    result = {"write": write, "read": read}[sys.argv[1]](spec)
    json.dump(result, sys.stdout)
