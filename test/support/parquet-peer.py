"""An independent Parquet reader for the tests: pyarrow (Apache Arrow's
reference implementation) reads a file's metadata and rows, and duckdb reads
the rows again; both are printed as JSON in a canonical form that the tests
compare with what tidemark shows:

  null, true/false, {"i": "<decimal>"} (integers), {"f": <float>},
  {"b": "<hex>"} (binary), {"s": "<text>"} (strings)

It also writes files as an independent writer: merutable's columns
(`_merutable_ikey` with its Int64 key encoding and tag, `_merutable_seq`,
`_merutable_op`), then user columns, Snappy, with pyarrow's own choices
(dictionary encoding, statistics, its page layout).

Usage: parquet-peer.py read FILE [LIMIT]
       parquet-peer.py read-many FILE... (a JSON list: one process for many files)
       parquet-peer.py write FILE ROWS [ROW_GROUP_SIZE] [nested]
"""
import json
import struct
import sys

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

SEQNUM_MAX = (1 << 56) - 1


def canon(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return {"i": str(v)}
    if isinstance(v, float):
        return {"f": v}
    if isinstance(v, (bytes, bytearray)):
        return {"b": bytes(v).hex()}
    if isinstance(v, str):
        return {"s": v}
    if isinstance(v, list):
        return {"l": [canon(x) for x in v]}
    raise TypeError(f"unexpected value type {type(v).__name__}")


def write(path, rows, row_group_size, nested):
    ids = list(range(rows))
    seqs = [1000 + i for i in ids]
    ikeys = [struct.pack(">QQ", (i ^ (1 << 63)) & (2**64 - 1), ((SEQNUM_MAX - s) << 8) | 1) for i, s in zip(ids, seqs)]
    table = pa.table(
        {
            "_merutable_ikey": pa.array(ikeys, pa.binary()),
            "_merutable_seq": pa.array(seqs, pa.int64()),
            "_merutable_op": pa.array([1] * rows, pa.int32()),
            "id": pa.array(ids, pa.int64()),
            "name": pa.array([None if i % 5 == 0 else f"name {i}" for i in ids], pa.string()),
            "score": pa.array([i / 8 for i in ids], pa.float64()),
            "flag": pa.array([i % 3 == 0 for i in ids], pa.bool_()),
            **({"tags": pa.array([[f"t{i}"] * (i % 3) for i in ids], pa.list_(pa.string()))} if nested else {}),
        }
    )
    pq.write_table(table, path, compression="snappy", row_group_size=row_group_size)


def main():
    if sys.argv[1] == "write":
        rows = int(sys.argv[3])
        write(sys.argv[2], rows, int(sys.argv[4]) if len(sys.argv) > 4 else rows, "nested" in sys.argv[5:])
        return
    if sys.argv[1] == "read-many":
        print(json.dumps([read(path, None) for path in sys.argv[2:]]))
        return
    print(json.dumps(read(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else None)))


def read(path, limit):
    f = pq.ParquetFile(path)
    md = f.metadata
    names = f.schema_arrow.names
    rows = f.read().to_pylist()
    if limit is not None:
        rows = rows[:limit]
    pa_rows = [[canon(r[n]) for n in names] for r in rows]
    sql = "SELECT * FROM read_parquet(?)" + (f" LIMIT {limit}" if limit is not None else "")
    dk_rows = [[canon(v) for v in r] for r in duckdb.execute(sql, [path]).fetchall()]
    columns = []
    for i, name in enumerate(names):
        col = md.schema.column(i)
        columns.append(
            {
                "name": name,
                "physicalType": col.physical_type,
                "nullable": f.schema_arrow.field(i).nullable,
                "compression": md.row_group(0).column(i).compression if md.num_row_groups else None,
            }
        )
    kv = {k.decode(): v.decode() for k, v in (md.metadata or {}).items()}
    return {
        "numRows": md.num_rows,
        "rowGroups": md.num_row_groups,
        "createdBy": md.created_by,
        "columns": columns,
        "kv": kv,
        "rows": pa_rows,
        "duckdbAgrees": dk_rows == pa_rows,
    }


main()
