"""pyiceberg (Apache Iceberg's Python library, which no one on the project wrote)
reads an Iceberg view of a mirror on a local directory through its own FileIO.

    python pyiceberg_read.py < {"table": "file:///DIR/iceberg" or "s3://BUCKET/PREFIX/iceberg",
                                "versions": [N, ...], "properties": {...pyiceberg FileIO properties}}

For each version N, `StaticTable.from_metadata` of `metadata/vN.metadata.json`
and `scan().to_arrow()`: its rows. On the last version's metadata, a scan
`snapshot_id=S` of every snapshot it lists (time travel), and what its
metadata tables say (`inspect.snapshots`, `manifests`, `data_files`,
`delete_files`) at its current snapshot; and the current snapshot of
`from_metadata` of the table's folder (through `version-hint.text`). Prints
{"versions": {N: {"snapshot": S, "columns": [...], "rows": [[tagged]]}},
 "travel": {S: [[tagged]]}, "inspect": {...}, "hint": S}; values tagged as
the oracle tags them (merutable_parquet.py's `tag`).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from merutable_parquet import tag  # noqa: E402


def rows_of(arrow):
    columns = [arrow.column(i).to_pylist() for i in range(arrow.num_columns)]
    return [[tag(c[r]) for c in columns] for r in range(arrow.num_rows)]


def main(spec):
    from pyiceberg.table import StaticTable

    table = spec["table"].rstrip("/")
    props = spec.get("properties", {})
    out = {"versions": {}, "travel": {}, "inspect": {}}
    last = None
    for v in spec["versions"]:
        last = StaticTable.from_metadata(f"{table}/metadata/v{v}.metadata.json", props)
        arrow = last.scan().to_arrow()
        out["versions"][str(v)] = {
            "snapshot": last.current_snapshot().snapshot_id,
            "columns": arrow.schema.names,
            "rows": rows_of(arrow),
        }
    for s in last.metadata.snapshots:
        out["travel"][str(s.snapshot_id)] = rows_of(last.scan(snapshot_id=s.snapshot_id).to_arrow())
    snaps = last.inspect.snapshots().to_pylist()
    manifests = last.inspect.manifests().to_pylist()
    data = last.inspect.data_files().to_pylist()
    deletes = last.inspect.delete_files().to_pylist()
    out["inspect"] = {
        "snapshots": [[s["snapshot_id"], s["parent_id"], s["manifest_list"]] for s in snaps],
        "manifests": sorted(
            [m["path"], m["content"], m["added_data_files_count"] + m["added_delete_files_count"],
             m["existing_data_files_count"] + m["existing_delete_files_count"]]
            for m in manifests
        ),
        "data_files": sorted([f["file_path"], f["record_count"], f["file_size_in_bytes"]] for f in data),
        "delete_files": sorted([f["file_path"], f["record_count"], f["content"]] for f in deletes),
    }
    out["hint"] = StaticTable.from_metadata(table, props).current_snapshot().snapshot_id
    print(json.dumps(out))


if __name__ == "__main__":
    main(json.load(sys.stdin))
