"""Readers of an Iceberg view that tidemark's tests did not write: fastavro
(every manifest list and manifest), pyarrow (every data and position-delete
file), DuckDB (which rows of a version's files merutable's projection keeps).

    python iceberg_check.py view < {"root": DIR, "prefix": "iceberg", "location": URI}
        reads every metadata file of the view under DIR/PREFIX/metadata, and for each
        its current snapshot's manifest list and manifests with fastavro, and every
        file they name with pyarrow; prints {"metadata": N, "manifest_lists": N,
        "manifests": N, "data_files": N, "delete_files": N, "deletes": N, "errors": [...]}.
    python iceberg_check.py winners < {"schema", "versions": [[ABSOLUTE PATHS]]}
        prints, per version, the rows DuckDB's projection for outside readers keeps
        ({"kept": [[path, row]]}) and the rows whose key it drops because the newest
        row is a delete ({"tombstones": [[path, row]]}).
"""

import json
import os
import sys
from urllib.parse import unquote

MANIFEST_FILE_IDS = {
    "manifest_path": 500, "manifest_length": 501, "partition_spec_id": 502, "content": 517,
    "sequence_number": 515, "min_sequence_number": 516, "added_snapshot_id": 503,
    "added_files_count": 504, "existing_files_count": 505, "deleted_files_count": 506,
    "added_rows_count": 512, "existing_rows_count": 513, "deleted_rows_count": 514,
    "partitions": 507, "key_metadata": 519,
}
ENTRY_IDS = {"status": 0, "snapshot_id": 1, "sequence_number": 3, "file_sequence_number": 4, "data_file": 2}
DATA_FILE_IDS = {
    "content": 134, "file_path": 100, "file_format": 101, "partition": 102, "record_count": 103,
    "file_size_in_bytes": 104, "column_sizes": 108, "value_counts": 109, "null_value_counts": 110,
    "nan_value_counts": 137, "lower_bounds": 125, "upper_bounds": 128, "key_metadata": 131,
    "split_offsets": 132, "equality_ids": 135, "sort_order_id": 140, "referenced_data_file": 143,
}
MANIFEST_KEYS = ["schema", "schema-id", "partition-spec", "partition-spec-id", "format-version", "content"]


def view(spec):
    import fastavro
    import pyarrow.parquet as pq

    root, prefix, location = spec["root"], spec["prefix"], spec["location"].rstrip("/")
    http = location.startswith("http://") or location.startswith("https://")
    errors = []
    seen = {"metadata": 0, "manifest_lists": set(), "manifests": set(), "data_files": set(), "delete_files": set()}
    deletes_total = 0

    def local(path):
        if not path.startswith(location + "/"):
            errors.append(f"{path} is not under {location}")
            return None
        rest = path[len(location) + 1:]
        return os.path.join(root, unquote(rest) if http else rest)

    def check_ids(where, fields, ids):
        for f in fields:
            want = ids.get(f["name"])
            if want is None:
                errors.append(f"{where}: unexpected field {f['name']}")
            elif f.get("field-id") != want:
                errors.append(f"{where}: field {f['name']} has field-id {f.get('field-id')}, not {want}")

    def avro(path):
        p = local(path)
        with open(p, "rb") as fo:
            r = fastavro.reader(fo)
            meta = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in r.metadata.items()}
            return r.writer_schema, meta, list(r), os.path.getsize(p)

    mdir = os.path.join(root, prefix, "metadata")
    names = sorted(n for n in os.listdir(mdir) if n.startswith("v") and n.endswith(".metadata.json"))
    for name in names:
        n = int(name[1:-len(".metadata.json")])
        with open(os.path.join(mdir, name)) as f:
            md = json.load(f)
        seen["metadata"] += 1
        where = name
        if md["format-version"] != 2:
            errors.append(f"{where}: format-version {md['format-version']}")
        if md["location"] != f"{location}/{prefix}":
            errors.append(f"{where}: location {md['location']}")
        if md["current-snapshot-id"] != n or md["last-sequence-number"] != n:
            errors.append(f"{where}: current snapshot {md['current-snapshot-id']}, sequence {md['last-sequence-number']}")
        if md["refs"]["main"]["snapshot-id"] != n:
            errors.append(f"{where}: main is {md['refs']['main']}")
        schema = next(s for s in md["schemas"] if s["schema-id"] == md["current-schema-id"])
        mapping = json.loads(md["properties"]["schema.name-mapping.default"])
        mapped = {m["names"][0]: m["field-id"] for m in mapping}
        fields = {f["name"]: f["id"] for f in schema["fields"]}
        extra = {n: i for n, i in mapped.items() if n not in fields}
        if {n: mapped.get(n) for n in fields} != fields or any(
            not n.startswith("_merutable_") or i in fields.values() or i > 2147483447 for n, i in extra.items()
        ):
            errors.append(f"{where}: name mapping {mapping} is not the schema's fields and the internal columns")
        snap = next(s for s in md["snapshots"] if s["snapshot-id"] == n)
        ml = snap["manifest-list"]
        seen["manifest_lists"].add(ml)
        lschema, lmeta, manifests, _ = avro(ml)
        check_ids(f"{where} manifest list", lschema["fields"], MANIFEST_FILE_IDS)
        if lmeta.get("snapshot-id") != str(n) or lmeta.get("sequence-number") != str(n) or lmeta.get("format-version") != "2":
            errors.append(f"{where}: manifest list metadata {lmeta}")
        live_data, live_deletes = {}, {}
        for m in manifests:
            seen["manifests"].add(m["manifest_path"])
            mschema, mmeta, entries, size = avro(m["manifest_path"])
            if size != m["manifest_length"]:
                errors.append(f"{m['manifest_path']}: {size} bytes, the list says {m['manifest_length']}")
            for k in MANIFEST_KEYS:
                if k not in mmeta:
                    errors.append(f"{m['manifest_path']}: no metadata key {k}")
            if mmeta.get("content") != ("data" if m["content"] == 0 else "deletes") or mmeta.get("format-version") != "2":
                errors.append(f"{m['manifest_path']}: content {mmeta.get('content')}, list says {m['content']}")
            if json.loads(mmeta["schema"])["schema-id"] != int(mmeta["schema-id"]):
                errors.append(f"{m['manifest_path']}: schema and schema-id disagree")
            check_ids(m["manifest_path"], mschema["fields"], ENTRY_IDS)
            df = next(f for f in mschema["fields"] if f["name"] == "data_file")["type"]
            check_ids(m["manifest_path"], df["fields"], DATA_FILE_IDS)
            counts = [0, 0, 0]
            rows = [0, 0, 0]
            for e in entries:
                counts[e["status"]] += 1
                rows[e["status"]] += e["data_file"]["record_count"]
                if e["status"] == 1 and (e["sequence_number"] is not None or e["snapshot_id"] is not None):
                    errors.append(f"{m['manifest_path']}: an added entry with explicit numbers")
                if e["status"] != 1 and (e["sequence_number"] is None or e["file_sequence_number"] is None):
                    errors.append(f"{m['manifest_path']}: a {e['status']} entry without sequence numbers")
                if e["data_file"]["content"] != m["content"]:
                    errors.append(f"{m['manifest_path']}: content {e['data_file']['content']} in a {m['content']} manifest")
                if e["status"] != 2:
                    seq = e["sequence_number"] if e["sequence_number"] is not None else m["sequence_number"]
                    (live_data if m["content"] == 0 else live_deletes)[e["data_file"]["file_path"]] = (e["data_file"], seq)
            want = [m["existing_files_count"], m["added_files_count"], m["deleted_files_count"]]
            want_rows = [m["existing_rows_count"], m["added_rows_count"], m["deleted_rows_count"]]
            if counts != want or rows != want_rows:
                errors.append(f"{m['manifest_path']}: entries {counts}/{rows}, the list says {want}/{want_rows}")
        for path, (f, _) in live_data.items():
            p = local(path)
            seen["data_files"].add(path)
            if not os.path.exists(p) or os.path.getsize(p) != f["file_size_in_bytes"]:
                errors.append(f"{where}: data file {path} missing or not {f['file_size_in_bytes']} bytes")
            else:
                pf = pq.ParquetFile(p)
                if pf.metadata.num_rows != f["record_count"]:
                    errors.append(f"{where}: {path} record_count {f['record_count']}")
                # A reader that gives a file without field ids a schema through the mapping (pyiceberg)
                # needs every column of the file mapped, the internal ones too.
                unmapped = [n for n in pf.schema_arrow.names if n not in mapped]
                if unmapped:
                    errors.append(f"{where}: {path} has columns the name mapping does not map: {unmapped}")
        total_deletes = 0
        for path, (f, seq) in live_deletes.items():
            p = local(path)
            seen["delete_files"].add(path)
            if not os.path.exists(p) or os.path.getsize(p) != f["file_size_in_bytes"]:
                errors.append(f"{where}: delete file {path} missing or not {f['file_size_in_bytes']} bytes")
                continue
            t = pq.read_table(p)
            ids = [int(fl.metadata[b"PARQUET:field_id"]) for fl in t.schema]
            if t.schema.names != ["file_path", "pos"] or ids != [2147483546, 2147483545]:
                errors.append(f"{path}: columns {t.schema.names} with field ids {ids}")
            pairs = list(zip(t.column("file_path").to_pylist(), t.column("pos").to_pylist()))
            if pairs != sorted(set(pairs)):
                errors.append(f"{path}: not sorted by file path then position (or repeats)")
            if len(pairs) != f["record_count"]:
                errors.append(f"{path}: {len(pairs)} rows, record_count {f['record_count']}")
            lb = dict((b["key"], b["value"]) for b in f["lower_bounds"] or [])
            ub = dict((b["key"], b["value"]) for b in f["upper_bounds"] or [])
            if pairs and (lb.get(2147483546) != pairs[0][0].encode() or ub.get(2147483546) != pairs[-1][0].encode()):
                errors.append(f"{path}: file_path bounds {lb} {ub}")
            for fp, pos in pairs:
                target = live_data.get(fp)
                if target is None:
                    continue  # a file that left: harmless, the delete file stays while one of its files lives
                if target[1] > seq:
                    errors.append(f"{path}: deletes {fp}, whose data sequence number {target[1]} is after its {seq}")
                if pos >= target[0]["record_count"]:
                    errors.append(f"{path}: position {pos} past the end of {fp}")
            total_deletes += len(pairs)
            deletes_total += len(pairs)
        s = snap["summary"]
        facts = {
            "total-data-files": len(live_data),
            "total-delete-files": len(live_deletes),
            "total-records": sum(f["record_count"] for f, _ in live_data.values()),
            "total-position-deletes": total_deletes,
        }
        for k, v in facts.items():
            if s.get(k) != str(v):
                errors.append(f"{where}: summary {k} {s.get(k)}, the manifests say {v}")
    print(json.dumps({
        "metadata": seen["metadata"],
        "manifest_lists": len(seen["manifest_lists"]),
        "manifests": len(seen["manifests"]),
        "data_files": len(seen["data_files"]),
        "delete_files": len(seen["delete_files"]),
        "deletes": deletes_total,
        "errors": errors[:50],
    }))


def winners(spec):
    import duckdb

    schema = spec["schema"]
    key = ", ".join('"' + schema["columns"][i]["name"] + '"' for i in schema["primary_key"])
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    out = []
    for files in spec["versions"]:
        rel = (
            f"SELECT filename, file_row_number AS r, _merutable_op AS op FROM read_parquet({json.dumps(files)}, "
            f"filename = true, file_row_number = true) "
            f"QUALIFY ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY _merutable_seq DESC) = 1"
        )
        rows = con.execute(rel).fetchall()
        out.append({
            "kept": sorted([f, int(r)] for f, r, op in rows if op == 1),
            "tombstones": sorted([f, int(r)] for f, r, op in rows if op == 0),
        })
    print(json.dumps(out))


if __name__ == "__main__":
    {"view": view, "winners": winners}[sys.argv[1]](json.load(sys.stdin))
