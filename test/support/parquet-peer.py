"""An independent Parquet reader for the tests: pyarrow (Apache Arrow's
reference implementation) reads a file's metadata and rows, and duckdb reads
the rows again; both are printed as JSON in a canonical form that the tests
compare with what tidemark shows:

  null, true/false, {"i": "<decimal>"} (integers), {"f": <float>},
  {"b": "<hex>"} (binary), {"s": "<text>"} (strings)

Usage: parquet-peer.py FILE [LIMIT]
"""
import json
import sys

import duckdb
import pyarrow.parquet as pq


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
    raise TypeError(f"unexpected value type {type(v).__name__}")


def main():
    path = sys.argv[1]
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else None
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
    print(
        json.dumps(
            {
                "numRows": md.num_rows,
                "rowGroups": md.num_row_groups,
                "createdBy": md.created_by,
                "columns": columns,
                "kv": kv,
                "rows": pa_rows,
                "duckdbAgrees": dk_rows == pa_rows,
            }
        )
    )


main()
