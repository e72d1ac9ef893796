"""Parquet files as merutable writes them, and an independent reader of them.
(`bench-table`: the 1,000,000-row table of bench/rows.ts, as merutable writes its files.)

Two tools tidemark's tests do not write themselves: Apache Arrow's pyarrow
(the reference Parquet writer) and DuckDB (an independent Parquet reader).

    python merutable_parquet.py write < {"root": DIR, "files": [{"path", "first_id", "rows", "seq"}]}
        writes each file under DIR (Snappy, merutable's internal columns
        _merutable_ikey/_seq/_op/_value, then the user columns id, payload)
        and prints [{"path", "size", "rows", "key_min", "key_max"}] (keys hex).
    python merutable_parquet.py read < {"files": [ABSOLUTE PATHS]}
        prints {"rows": N, "columns": [...], "codecs": [...], "ids": [min, max]}
        as DuckDB reads them.
    python merutable_parquet.py table-files < {"root", "schema", "string_columns", "files": [
            {"path", "dual", "row_group_size", "page_rows", "rows": [{"seq", "op", "values": [V...]}]}]}
        writes data files of a table with any merutable schema: the internal key
        encoded here from the key columns' values (merutable's types/key.rs), rows
        sorted by it; prints [{"path", "size", "rows", "key_min", "key_max",
        "seq_min", "seq_max", "positions": [key hex of each row, in file order]}].
    python merutable_parquet.py oracle < {"schema", "versions": [[ABSOLUTE PATHS]]}
        prints, per version, the rows DuckDB gives with merutable's projection for
        outside readers (docs/EXTERNAL_READS.md): per primary key the newest
        _merutable_seq, kept when _merutable_op = 1, in _merutable_ikey order.

Values V are tagged: null, {"b": bool}, {"i": "decimal"}, {"f": number or
"nan"/"inf"/"-inf"}, {"s": text}, {"x": hex bytes}; the oracle prints them so.

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


SEQNUM_MAX = (1 << 56) - 1


def untag(v):
    if v is None:
        return None
    (k, x), = v.items()
    if k == "b":
        return bool(x)
    if k == "i":
        return int(x)
    if k == "f":
        return float(x) if not isinstance(x, str) else float(x)
    if k == "s":
        return x
    if k == "x":
        return bytes.fromhex(x)
    raise ValueError(v)


def tag(v):
    import math

    if v is None:
        return None
    if isinstance(v, bool):
        return {"b": v}
    if isinstance(v, int):
        return {"i": str(v)}
    if isinstance(v, float):
        if math.isnan(v):
            return {"f": "nan"}
        if math.isinf(v):
            return {"f": "inf" if v > 0 else "-inf"}
        return {"f": v}
    if isinstance(v, str):
        return {"s": v}
    if isinstance(v, (bytes, bytearray)):
        return {"x": bytes(v).hex()}
    raise TypeError(type(v))


def key_field(v, col_type):
    """merutable's order-preserving encoding of one primary-key field (types/key.rs)."""
    if col_type == "Boolean":
        return b"\x01" if v else b"\x00"
    if col_type == "Int32":
        return struct.pack(">I", (v & 0xFFFFFFFF) ^ 0x80000000)
    if col_type == "Int64":
        return struct.pack(">Q", (v & 0xFFFFFFFFFFFFFFFF) ^ (1 << 63))
    if col_type in ("Float", "Double"):
        fmt, ufmt, sign, mask = (">f", ">I", 1 << 31, 0xFFFFFFFF) if col_type == "Float" else (">d", ">Q", 1 << 63, 0xFFFFFFFFFFFFFFFF)
        bits = struct.unpack(ufmt, struct.pack(fmt, v))[0]
        bits = (~bits & mask) if bits & sign else bits ^ sign
        return struct.pack(ufmt, bits)
    raw = v.encode("utf-8") if isinstance(v, str) else bytes(v)
    if col_type == "ByteArray":
        return raw.replace(b"\x00", b"\x00\xff") + b"\x00\x00"
    return raw  # FixedLenByteArray(n)


def arrow_type(col, string_columns):
    import pyarrow as pa

    t = col["col_type"]
    if isinstance(t, dict):
        return pa.binary(t["FixedLenByteArray"])
    return {
        "Boolean": pa.bool_(),
        "Int32": pa.int32(),
        "Int64": pa.int64(),
        "Float": pa.float32(),
        "Double": pa.float64(),
        "ByteArray": pa.string() if col["name"] in string_columns else pa.binary(),
    }[t]


def table_files(spec):
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = spec["schema"]
    columns = schema["columns"]
    pk = schema["primary_key"]
    strings = set(spec.get("string_columns", []))
    out = []
    for f in spec["files"]:
        rows = []
        for r in f["rows"]:
            values = [untag(v) for v in r["values"]]
            user_key = b"".join(key_field(values[i], columns[i]["col_type"]) for i in pk)
            ikey = user_key + struct.pack(">Q", ((SEQNUM_MAX - r["seq"]) << 8) | r["op"])
            rows.append((ikey, user_key, r["seq"], r["op"], values))
        rows.sort(key=lambda x: x[0])
        fields = [
            pa.field("_merutable_ikey", pa.binary(), nullable=False),
            pa.field("_merutable_seq", pa.int64(), nullable=False),
            pa.field("_merutable_op", pa.int32(), nullable=False),
        ]
        data = {
            "_merutable_ikey": [r[0] for r in rows],
            "_merutable_seq": [r[2] for r in rows],
            "_merutable_op": [r[3] for r in rows],
        }
        if f.get("dual"):
            fields.append(pa.field("_merutable_value", pa.binary(), nullable=False))
            # An opaque stand-in for merutable's postcard row blob: no reader of the table needs it.
            data["_merutable_value"] = [json.dumps([tag(v) for v in r[4]]).encode() for r in rows]
        for i, c in enumerate(columns):
            fields.append(pa.field(c["name"], arrow_type(c, strings), nullable=c["nullable"]))
            data[c["name"]] = [r[4][i] for r in rows]
        table = pa.table(data, schema=pa.schema(fields))
        path = os.path.join(spec["root"], f["path"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # page_rows: pages of that many rows, and page indexes (merutable's writer emits them).
        paged = {"write_page_index": True, "max_rows_per_page": f["page_rows"]} if f.get("page_rows") else {}
        pq.write_table(
            table,
            path,
            compression="snappy",
            row_group_size=f.get("row_group_size") or max(1, len(rows)),
            use_dictionary=[c["name"] for c in columns],
            **paged,
        )
        out.append(
            {
                "path": f["path"],
                "size": os.path.getsize(path),
                "rows": len(rows),
                "key_min": rows[0][1].hex() if rows else "",
                "key_max": max(r[1] for r in rows).hex() if rows else "",
                "seq_min": min((r[2] for r in rows), default=0),
                "seq_max": max((r[2] for r in rows), default=0),
                **({"positions": [r[0].hex() for r in rows]} if spec.get("positions", True) else {}),
            }
        )
    return out


def bench_table(spec):
    """A big table for bench/rows.ts, generated here (no JSON rows), written as
    merutable's writer (parquet/writer.rs at 41101e3, parquet-rs 53) writes its
    files: Int64 key `id`, customer (ByteArray: Arrow Binary, as merutable maps
    it), amount (double), qty (int32), paid (bool). `l1_files` level-1 files of
    the `rows` keys (version 1), then level-0 flushes of updates and deletes
    (tombstones carry the old values) of distinct random keys, the last flush
    `last_flush` keys, then (`clustered_flush`) a flush of a contiguous range.

    As merutable writes them: row groups of 16,384 rows at level 0 and 131,072
    at level 1 (its 4 and 32 MiB budgets at 256 bytes a row); data pages of
    8 KiB at level 0 and 32 KiB at level 1, at most 20,000 rows (parquet-rs's
    default); page indexes (column and offset index: parquet-rs writes them by
    default); `_merutable_ikey` PLAIN, `_merutable_seq` DELTA_BINARY_PACKED,
    `_merutable_op` dictionary; level 0 "dual": the `_merutable_value` row blob
    and every user column PLAIN; level 1 columnar: integers DELTA_BINARY_PACKED,
    floats BYTE_STREAM_SPLIT, byte arrays dictionary, booleans RLE. The footer's
    key-value metadata: `merutable.meta` and `merutable.schema` (JSON), and
    `merutable.bloom`, hex, of the size merutable's bloom has (10 bits a key in
    64-byte buckets), its bits random: no reader here probes it. The row blob is
    a stand-in of postcard's size (about 30 bytes a row). No `merutable.kv_index`
    (its page table: a few KiB a file). Prints the versions: [{"add": [file...]}]."""
    import random

    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(spec.get("seed", 23))
    n = spec["rows"]
    internal = [
        pa.field("_merutable_ikey", pa.binary(), nullable=False),
        pa.field("_merutable_seq", pa.int64(), nullable=False),
        pa.field("_merutable_op", pa.int32(), nullable=False),
    ]
    user = [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("customer", pa.binary(), nullable=True),
        pa.field("amount", pa.float64(), nullable=True),
        pa.field("qty", pa.int32(), nullable=False),
        pa.field("paid", pa.bool_(), nullable=True),
    ]
    meru_schema = {
        "table_name": "bench",
        "columns": [
            {"name": "id", "col_type": "Int64", "nullable": False},
            {"name": "customer", "col_type": "ByteArray", "nullable": True},
            {"name": "amount", "col_type": "Double", "nullable": True},
            {"name": "qty", "col_type": "Int32", "nullable": False},
            {"name": "paid", "col_type": "Boolean", "nullable": True},
        ],
        "primary_key": [0],
    }
    seq = [0]

    def row(i, gen):
        return (i, None if (i + gen) % 11 == 0 else b"customer %d" % ((i * 7 + gen) % 5000), ((i * 31 + gen) % 100000) / 100, (i + gen) % 50, None if i % 9 == 0 else (i + gen) % 2 == 0)

    def blob(v):
        # About what postcard makes of the row: varints, the bytes, the double, option tags.
        c = v[1] or b""
        return struct.pack("<qBdiB", v[0], len(c), v[2] or 0.0, v[3], 2 if v[4] is None else int(v[4])) + c

    def write(path, rows, level):
        # rows: (id, seq, op, values); sorted by ikey = key asc, seq desc
        rows.sort(key=lambda r: (r[0], -r[1]))
        ikeys = [struct.pack(">Q", (r[0] & 0xFFFFFFFFFFFFFFFF) ^ (1 << 63)) + struct.pack(">Q", ((SEQNUM_MAX - r[1]) << 8) | r[2]) for r in rows]
        cols = list(zip(*[r[3] for r in rows]))
        dual = level == 0
        fields = internal + ([pa.field("_merutable_value", pa.binary(), nullable=False)] if dual else []) + user
        arrays = [ikeys, [r[1] for r in rows], [r[2] for r in rows]]
        if dual:
            arrays.append([blob(r[3]) for r in rows])
        arrays += [list(c) for c in cols]
        seqs = [r[1] for r in rows]
        keys = sorted({ikey[:8] for ikey in ikeys})
        meta = {
            "level": level, "seq_min": min(seqs), "seq_max": max(seqs),
            "key_min": list(ikeys[0][:8]), "key_max": list(ikeys[-1][:8]), "num_rows": len(rows),
            "file_size": 0, "format": "Dual" if dual else "Columnar",
        }
        buckets = -(-max(len(keys), 1000) * 10 // 512)
        bloom = bytes([6]) + struct.pack("<I", buckets) + rng.randbytes(buckets * 64)
        kv = {
            "merutable.meta": json.dumps(meta),
            "merutable.schema": json.dumps(meru_schema),
            "merutable.bloom": bloom.hex(),
        }
        t = pa.table(arrays, schema=pa.schema(fields))
        full = os.path.join(spec["root"], path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        if dual:
            plain = ["_merutable_ikey", "_merutable_value", "id", "customer", "amount", "qty", "paid"]
            encodings = {c: "PLAIN" for c in plain}
        else:
            encodings = {"_merutable_ikey": "PLAIN", "id": "DELTA_BINARY_PACKED", "amount": "BYTE_STREAM_SPLIT", "qty": "DELTA_BINARY_PACKED", "paid": "RLE"}
        encodings["_merutable_seq"] = "DELTA_BINARY_PACKED"
        # The key-value metadata as merutable's writer sets it (not pyarrow's ARROW:schema, which would repeat it).
        with pq.ParquetWriter(
            full,
            t.schema,
            compression="snappy",
            data_page_size=8 * 1024 if dual else 32 * 1024,
            max_rows_per_page=20000,
            use_dictionary=["_merutable_op"] + ([] if dual else ["customer"]),
            column_encoding=encodings,
            write_page_index=True,
            store_schema=False,
        ) as w:
            w.write_table(t, row_group_size=16384 if dual else 131072)
            w.add_key_value_metadata(kv)
        return {
            "path": path,
            "size": os.path.getsize(full),
            "rows": len(rows),
            "key_min": ikeys[0][:8].hex(),
            "key_max": ikeys[-1][:8].hex(),
            "seq_min": min(seqs),
            "seq_max": max(seqs),
        }

    def next_seq():
        seq[0] += 1
        return seq[0]

    versions = []
    per = n // spec["l1_files"]
    first = []
    for f in range(spec["l1_files"]):
        ids = range(f * per, n if f == spec["l1_files"] - 1 else (f + 1) * per)
        first.append(write("data/L1/base-%d.parquet" % f, [(i, next_seq(), 1, row(i, 0)) for i in ids], 1))
    versions.append({"add": first})
    keys = rng.sample(range(n), spec["updated"] + spec["deleted"])
    ops = [(k, 1) for k in keys[: spec["updated"]]] + [(k, 0) for k in keys[spec["updated"]:]]
    rng.shuffle(ops)
    last = ops[len(ops) - spec["last_flush"]:]
    rest = ops[: len(ops) - spec["last_flush"]]
    chunks = [rest[i :: spec["l0_files"] - 1] for i in range(spec["l0_files"] - 1)] + [last]
    for f, chunk in enumerate(chunks):
        rows = [(k, next_seq(), op, row(k, f + 1 if op == 1 else 0)) for k, op in chunk]
        versions.append({"add": [write("data/L0/flush-%d.parquet" % f, rows, 0)]})
    if spec.get("clustered_flush"):
        # Then a flush updating a contiguous range of keys (recent orders, say).
        ids = range(n // 2, n // 2 + spec["clustered_flush"])
        rows = [(k, next_seq(), 1, row(k, 99)) for k in ids]
        versions.append({"add": [write("data/L0/flush-clustered.parquet", rows, 0)]})
    return versions


def oracle(spec):
    import duckdb

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")  # it prints to stdout, which carries our JSON
    columns = spec["schema"]["columns"]
    q = lambda n: '"' + n.replace('"', '""') + '"'
    pk = ", ".join(q(columns[i]["name"]) for i in spec["schema"]["primary_key"])
    cols = ", ".join(q(c["name"]) for c in columns)
    out = []
    for files in spec["versions"]:
        if not files:
            out.append([])
            continue
        rows = con.execute(
            f"SELECT {cols} FROM read_parquet(?, union_by_name = true) "
            f"QUALIFY ROW_NUMBER() OVER (PARTITION BY {pk} ORDER BY _merutable_seq DESC) = 1 "
            "AND _merutable_op = 1 ORDER BY _merutable_ikey",
            [files],
        ).fetchall()
        out.append([[tag(v) for v in r] for r in rows])
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
    result = {"write": write, "read": read, "table-files": table_files, "oracle": oracle, "bench-table": bench_table}[sys.argv[1]](spec)
    json.dump(result, sys.stdout)
