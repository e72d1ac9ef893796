#!/usr/bin/env python3
"""LaminarDB checkpoint roots, written from the documented layout with the
Python standard library only (struct, hashlib, json, base64): an encoder that
shares no code with tidemark's TypeScript decoder, so the two check each other.

    python3 test/support/laminardb_state_v2.py          prints the bundle (JSON)
    python3 test/support/laminardb_state_v2.py --write  writes test/fixtures/laminardb-state-v2.json
    python3 test/support/laminardb_state_v2.py --check  exit 1 when the committed bundle differs

The layout (LaminarDB's `state-v2`, Core Cycle 9 and later: crates/laminar-core/src/state/
object_store.rs and backend.rs of https://github.com/laminardb/laminardb):

    state-v2/_NAMESPACE                                  JSON, canonical bytes, create-only
    state-v2/_PRUNE_FLOOR                                JSON {version, before_epoch, swept_before_epoch}
    state-v2/epoch={E}/checkpoint={C}/vnode={V}/partial.bin   "LDBVP3" 164-byte header + payload
    state-v2/epoch={E}/checkpoint={C}/commit/{key}       "LDBCD2" 204-byte header + payload
    state-v2/epoch={E}/checkpoint={C}/_SEAL              JSON seal, version 8

and the layout LaminarDB wrote before (`epoch={E}/vnode={V}/partial.bin`, `epoch={E}/_COMMIT`).

The bundle holds `cases` (a root and what a verifier must say of it: the damaged
objects by key and rule, the warnings, the restore candidate), `timelines`
(a source root changing step by step, and what a mirror of it must hold after
each step) and `pools` (attempts, their seals and floors, for a model-based
test to publish in any order LaminarDB could). An object is a list of segments: {"b64": ...} or {"repeat": hex,
"count": n} (the bytes of hex repeated n times), so a large payload stays small here.
"""

import base64
import hashlib
import json
import os
import struct
import sys

ROOT = "state-v2/"
PARTIAL_MAGIC = b"LDBVP3\0\0"
PARTIAL_FORMAT = ">8sIQQIQQ16s32sQ32sQQQI"  # 164 bytes
DESCRIPTOR_MAGIC = b"LDBCD2\0\0"
DESCRIPTOR_FORMAT = ">8sIQQ32sQ32sQ16sQ16sQQQ32s"  # 204 bytes
V2_PARTIAL_FORMAT = ">8sIQQIQQ16s32sQ32s"  # 136 bytes, LaminarDB before Core Cycle 9
SEAL_VERSION = 8
PIPELINE_IDENTITY_VERSION = 6
ZERO16 = b"\0" * 16
ZERO32 = b"\0" * 32

assert struct.calcsize(PARTIAL_FORMAT) == 164
assert struct.calcsize(DESCRIPTOR_FORMAT) == 204
assert struct.calcsize(V2_PARTIAL_FORMAT) == 136


def sha(b):
    return hashlib.sha256(b).digest()


def canonical_json(value):
    # serde_json::to_vec: compact, fields in struct order (dicts keep insertion order), UTF-8.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def det_uuid(name):
    """A version-4 UUID derived from `name` (fixtures must not change between runs)."""
    b = bytearray(sha(name.encode())[:16])
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = bytes(b).hex()
    return "%s-%s-%s-%s-%s" % (h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])


def uuid_bytes(text):
    return bytes.fromhex(text.replace("-", ""))


def payload(name, n):
    """`n` deterministic bytes named `name`."""
    out = b""
    i = 0
    while len(out) < n:
        out += sha(b"%s/%d" % (name.encode(), i))
        i += 1
    return out[:n]


def attempt_prefix(epoch):
    return "%sepoch=%d/checkpoint=%d/" % (ROOT, epoch, epoch)


def partial_key(epoch, vnode):
    return "%svnode=%d/partial.bin" % (attempt_prefix(epoch), vnode)


def descriptor_key(epoch, key):
    return "%scommit/%s" % (attempt_prefix(epoch), key)


def seal_key(epoch):
    return attempt_prefix(epoch) + "_SEAL"


# --- the assignment certificate of a cluster seal (crates/laminar-core/src/checkpoint/assignment.rs) ---


def owner_map_digest(vnode_count, owners, abi=1):
    h = b"laminardb-vnode-owner-map-v2\0" + struct.pack("<HI", abi, vnode_count)
    h += struct.pack("<Q", len(owners)) + b"".join(struct.pack("<Q", o) for o in owners)
    return sha(h)


class Fence:
    """CheckpointAssignmentFence: with `abi` (the newest shape, digest v3) or without (digest v2)."""

    def __init__(self, version, owners, participants, abi=True):
        self.version = version
        self.vnode_count = len(owners)
        self.abi = abi
        self.assignment_digest = owner_map_digest(self.vnode_count, owners)
        self.participants = sorted(participants)  # [(node_id, boot uuid text)]

    def boot(self, node):
        return dict(self.participants)[node]

    def digest(self):
        if self.abi:
            h = b"laminardb-checkpoint-assignment-v3\0" + struct.pack("<QHI", self.version, 1, self.vnode_count)
        else:
            h = b"laminardb-checkpoint-assignment-v2\0" + struct.pack("<QI", self.version, self.vnode_count)
        h += self.assignment_digest + struct.pack("<Q", len(self.participants))
        for node, boot in self.participants:
            h += struct.pack("<Q", node) + uuid_bytes(boot)
        return sha(h)

    def json(self):
        out = {"assignment_version": self.version}
        if self.abi:
            out["partitioning_abi_version"] = 1
        out["vnode_count"] = self.vnode_count
        out["assignment_digest"] = list(self.assignment_digest)
        out["participants"] = [{"node_id": n, "boot_incarnation": b} for n, b in self.participants]
        return out


# --- objects ---


def encode_partial(epoch, vnode, body, av=0, writer=None, parent=None, total=None, count=None, **bad):
    """An LDBVP3 partial; `bad` overrides header fields to make a damaged one."""
    node, boot, digest = writer if writer else (0, ZERO16, ZERO32)
    pe, pc = parent if parent else (0, 0)
    fields = dict(
        magic=PARTIAL_MAGIC,
        version=3,
        epoch=epoch,
        checkpoint_id=epoch,
        vnode=vnode,
        av=av,
        node=node,
        boot=boot,
        digest=digest,
        length=len(body),
        sha=sha(body),
        pe=pe,
        pc=pc,
        total=len(body) if total is None else total,
        count=1 if count is None else count,
    )
    fields.update(bad)
    header = struct.pack(PARTIAL_FORMAT, *fields.values())
    return header + body


def encode_descriptor(epoch, key, body, writer=None, **bad):
    """An LDBCD2 commit descriptor; `writer` = (av, cert digest, node, boot, leader proof) or local."""
    if writer:
        av, digest, node, boot, (lnode, lboot, term, token) = writer
    else:
        av, digest, node, boot, (lnode, lboot, term, token) = 0, ZERO32, 0, ZERO16, (0, ZERO16, 0, 0)
    fields = dict(
        magic=DESCRIPTOR_MAGIC,
        version=2,
        epoch=epoch,
        checkpoint_id=epoch,
        key_sha=sha(key.encode("utf-8")),
        av=av,
        digest=digest,
        node=node,
        boot=boot,
        lnode=lnode,
        lboot=lboot,
        term=term,
        token=token,
        length=len(body),
        sha=sha(body),
    )
    fields.update(bad)
    return struct.pack(DESCRIPTOR_FORMAT, *fields.values()) + body


def namespace_bytes(deployment, pipeline_sha):
    return canonical_json(
        {
            "version": 1,
            "deployment_id": deployment,
            "pipeline_identity": {"canonical_version": PIPELINE_IDENTITY_VERSION, "sha256": pipeline_sha},
        }
    )


def floor_bytes(before, swept):
    return canonical_json({"version": 1, "before_epoch": before, "swept_before_epoch": swept})


class Root:
    """A checkpoint root being written, as LaminarDB writes one; `lineage` remembers each sealed
    vnode partial's (payload length, total, count) for the children built on it."""

    def __init__(self, name):
        self.name = name
        self.objects = {}
        self.lineage = {}  # (epoch, vnode) -> (total, count)
        self.pipeline = sha(name.encode()).hex()
        self.deployment = det_uuid("deployment/" + name)

    def bind(self):
        self.objects[ROOT + "_NAMESPACE"] = namespace_bytes(self.deployment, self.pipeline)
        return self

    def floor(self, before, swept):
        self.objects[ROOT + "_PRUNE_FLOOR"] = floor_bytes(before, swept)

    def attempt(self, epoch, vnodes, parent=None, descriptors=(), seal=True, fence=None, leader=None, sizes=None):
        """Writes attempt `epoch`: one partial per vnode (a root, or a delta of `parent`), the
        descriptors, then (`seal`) the `_SEAL` naming them. Returns the seal dict (written)."""
        entries = []
        av = fence.version if fence else 0
        for i, v in enumerate(sorted(vnodes)):
            n = (sizes or {}).get(v, 5 + (epoch * 7 + v * 3) % 23)
            body = payload("%s/%d/%d" % (self.name, epoch, v), n)
            writer = None
            writer_json = None
            if fence:
                node = fence.participants[i % len(fence.participants)][0]
                boot = fence.boot(node)
                writer = (node, uuid_bytes(boot), fence.digest())
                writer_json = {
                    "node_id": node,
                    "boot_incarnation": boot,
                    "assignment_certificate_digest": fence.digest().hex(),
                }
            if parent is None:
                lineage = (None, n, 1)
            else:
                ptotal, pcount = self.lineage[(parent, v)]
                lineage = (parent, ptotal + n, pcount + 1)
            self.objects[partial_key(epoch, v)] = encode_partial(
                epoch,
                v,
                body,
                av=av,
                writer=writer,
                parent=(parent, parent) if parent else None,
                total=lineage[1],
                count=lineage[2],
            )
            self.lineage[(epoch, v)] = (lineage[1], lineage[2])
            entries.append(
                {
                    "vnode": v,
                    "assignment_version": av,
                    "writer": writer_json,
                    "payload_len": n,
                    "payload_sha256": sha(body).hex(),
                    "lineage": {
                        "parent": {"epoch": parent, "checkpoint_id": parent} if parent else None,
                        "total_payload_bytes": lineage[1],
                        "artifact_count": lineage[2],
                    },
                }
            )
        sealed_descriptors = []
        for key in sorted(descriptors, key=lambda k: k.encode("utf-8")):
            body = json.dumps({"descriptor": key, "epoch": epoch}).encode()
            writer = None
            writer_json = None
            if fence:
                node = fence.participants[-1][0]
                lnode, lterm, ltoken = leader
                writer = (
                    av,
                    fence.digest(),
                    node,
                    uuid_bytes(fence.boot(node)),
                    (lnode, uuid_bytes(fence.boot(lnode)), lterm, ltoken),
                )
                writer_json = {
                    "participant": {"node_id": node, "boot_incarnation": fence.boot(node)},
                    "assignment_certificate_digest": fence.digest().hex(),
                    "leader_proof": {
                        "owner": {"node_id": lnode, "boot_id": fence.boot(lnode), "process_term": lterm},
                        "fencing_token": ltoken,
                    },
                }
            self.objects[descriptor_key(epoch, key)] = encode_descriptor(epoch, key, body, writer)
            sealed_descriptors.append(
                {
                    "key": key,
                    "assignment_version": av,
                    "writer": writer_json,
                    "payload_len": len(body),
                    "payload_sha256": sha(body).hex(),
                }
            )
        doc = {
            "version": SEAL_VERSION,
            "attempt": {"epoch": epoch, "checkpoint_id": epoch},
            "instance_id": "73" if fence is None else str(fence.participants[0][0]),
            "execution_id": det_uuid("execution/%s/%d" % (self.name, epoch)),
            "assignment_fence": fence.json() if fence else None,
            "assignment_version": av,
            "required_vnodes": sorted(vnodes),
            "sealed_partials": entries,
            "required_descriptors": [d["key"] for d in sealed_descriptors],
            "sealed_descriptors": sealed_descriptors,
        }
        if seal:
            self.put_seal(epoch, doc)
        return doc

    def put_seal(self, epoch, doc):
        self.objects[seal_key(epoch)] = canonical_json(doc)

    def delete_epoch(self, epoch):
        prefix = "%sepoch=%d/" % (ROOT, epoch)
        for k in [k for k in self.objects if k.startswith(prefix)]:
            del self.objects[k]


# --- the bundle ---


def segments(data):
    """Bytes as segments: JSON objects as text (readable), binary ones in base64."""
    try:
        text = data.decode("utf-8")
        if text.startswith("{"):
            return [{"text": text}]
    except UnicodeDecodeError:
        pass
    return [{"b64": base64.b64encode(data).decode("ascii")}]


def problem(key, rule):
    return {"key": key, "rule": rule}


CASES = {}
TIMELINES = {}


BASES = {}


def case(name, root_or_objects, description, problems=(), warnings=(), candidate=None, restorable=None, layout="state-v2", big=None, base=None):
    """A root and what a verifier must say of it. With `base` (a name in BASES), the root is
    that base with `objects` put over it and the keys it lacks deleted."""
    objects = root_or_objects.objects if isinstance(root_or_objects, Root) else root_or_objects
    deleted = []
    if base is not None:
        under = BASES[base]
        deleted = sorted(k for k in under if k not in objects)
        objects = {k: v for k, v in objects.items() if under.get(k) != v}
    encoded = {k: segments(v) for k, v in sorted(objects.items())}
    for key, (pattern, count, head) in (big or {}).items():
        encoded[key] = [{"b64": base64.b64encode(head).decode("ascii")}, {"repeat": pattern.hex(), "count": count}]
    CASES[name] = {
        "description": description,
        "layout": layout,
        **({"base": base, "delete": deleted} if base is not None else {}),
        "objects": encoded,
        "expect": {
            "ok": len(problems) == 0,
            "problems": sorted(problems, key=lambda p: (p["key"], p["rule"])),
            "warnings": sorted(warnings, key=lambda p: (p["key"], p["rule"])),
            "candidate": None if candidate is None else str(candidate),
            "restorable": restorable,
        },
    }


def clean_chain(name, fence=None, leader=None):
    """Attempts 1 (root), 2 (delta of 1), 3 (delta of 2, with descriptors): the incremental chain."""
    r = Root(name).bind()
    r.attempt(1, [0, 1, 2], fence=fence, leader=leader)
    r.attempt(2, [0, 1, 2], parent=1, fence=fence, leader=leader)
    r.attempt(3, [0, 1, 2], parent=2, descriptors=["participant=7/sink=orders", "sink=audit"], fence=fence, leader=leader)
    return r


def build_cases():
    # The research note's example (LaminarDB's test cluster_state_seal_records_runtime_node_id):
    # attempt 17, vnode 0, payload b"state", local, no descriptors; its partial.bin is 169 bytes.
    r = Root("single-root").bind()
    body = b"state"
    r.objects[partial_key(17, 0)] = encode_partial(17, 0, body)
    assert len(r.objects[partial_key(17, 0)]) == 169
    assert r.objects[partial_key(17, 0)][:12].hex() == "4c4442565033000000000003"
    assert sha(body).hex() == "4ba69735ca53765ed6a709edb56c6ea236b7193a3b29a6b390c346f0f4340e4e"
    seal = {
        "version": 8,
        "attempt": {"epoch": 17, "checkpoint_id": 17},
        "instance_id": "73",
        "execution_id": det_uuid("execution/single-root"),
        "assignment_fence": None,
        "assignment_version": 0,
        "required_vnodes": [0],
        "sealed_partials": [
            {
                "vnode": 0,
                "assignment_version": 0,
                "writer": None,
                "payload_len": 5,
                "payload_sha256": sha(body).hex(),
                "lineage": {"parent": None, "total_payload_bytes": 5, "artifact_count": 1},
            }
        ],
        "required_descriptors": [],
        "sealed_descriptors": [],
    }
    r.put_seal(17, seal)
    case("single-root", r, "one local attempt, one vnode: the research note's worked example", candidate=17, restorable=True)

    r = clean_chain("incremental-chain")
    r.floor(1, 0)
    case("incremental-chain", r, "a root and two deltas, local, with descriptors; floor 1", candidate=3, restorable=True)

    boots = {n: det_uuid("boot/%d" % n) for n in (7, 9, 11)}
    fence = Fence(4, [7, 9, 11, 7], [(n, boots[n]) for n in (7, 9, 11)])
    r = clean_chain("cluster-chain", fence=fence, leader=(9, 3, 21))
    case("cluster-chain", r, "the chain written by a 3-node cluster: certified writers, one leader proof", candidate=3, restorable=True)

    old = Fence(2, [7, 9], [(n, boots[n]) for n in (7, 9)], abi=False)
    r = clean_chain("cluster-old-fence", fence=old, leader=(7, 1, 5))
    case("cluster-old-fence", r, "a cluster chain whose certificate has no partitioning_abi_version (digest v2)", candidate=3, restorable=True)

    r = Root("abandoned").bind()
    r.attempt(4, [0, 1])
    r.attempt(5, [0, 1], parent=4, seal=False)  # abandoned: partials, never sealed
    r.attempt(6, [0, 1], parent=4)
    r.attempt(7, [0, 1], parent=6, seal=False)  # in progress
    case("abandoned", r, "an abandoned attempt (5) between sealed ones, one in progress (7)", candidate=6, restorable=True)

    r = Root("floor-leftovers").bind()
    r.attempt(8, [0, 1])
    r.attempt(9, [0, 1], parent=8, seal=False)
    r.attempt(10, [0, 1])
    r.attempt(11, [0, 1], parent=10, descriptors=["sink=orders"])
    r.floor(10, 8)
    case(
        "floor-leftovers",
        r,
        "floor 10 published, the sweep not finished: attempts 8 and 9 are leftovers below it",
        warnings=[problem(attempt_prefix(8), "below-floor"), problem(attempt_prefix(9), "below-floor")],
        candidate=11,
        restorable=True,
    )

    big_root = 2**53 + 1
    big_child = 2**64 - 1
    r = Root("big-epochs").bind()
    r.attempt(big_root, [0, 4294967295])
    r.attempt(big_child, [0, 4294967295], parent=big_root)
    r.floor(big_root, 2**53 - 1)
    case("big-epochs", r, "epochs 2^53+1 and 2^64-1, vnode 2^32-1, floor 2^53+1: u64 exact", candidate=big_child, restorable=True)

    r = Root("large-payload").bind()
    doc = r.attempt(2, [0], sizes={0: 5})
    head_len = 300_000
    pattern = bytes(range(256))
    body = pattern * (head_len // 256) + pattern[: head_len % 256]
    entry = doc["sealed_partials"][0]
    entry["payload_len"] = len(body)
    entry["payload_sha256"] = sha(body).hex()
    entry["lineage"]["total_payload_bytes"] = len(body)
    r.put_seal(2, doc)
    header = encode_partial(2, 0, body)[:164]
    del r.objects[partial_key(2, 0)]
    # 300,000 bytes: 1,171 whole patterns then 224 bytes; written as the header, the patterns, the rest.
    rest = body[(head_len // 256) * 256 :]
    case(
        "large-payload",
        r,
        "a 300,000-byte payload (hashed as a stream, across chunks)",
        candidate=2,
        restorable=True,
        big={partial_key(2, 0): (pattern, head_len // 256, header)},
    )
    CASES["large-payload"]["objects"][partial_key(2, 0)].append({"b64": base64.b64encode(rest).decode("ascii")})

    # --- negative cases: each a clean chain with one defect ---
    # The negative cases share one base: the clean chain as "chain" writes it.
    BASES["chain"] = clean_chain("chain").objects

    def damaged(name, description, mutate, problems, warnings=(), candidate=3, restorable=False, floor=None):
        r = clean_chain("chain")
        if floor:
            r.floor(*floor)
        mutate(r)
        case(name, r, description, problems=problems, warnings=warnings, candidate=candidate, restorable=restorable, base="chain")

    k = partial_key(2, 1)

    def rewrite(r, key, **bad):
        old = r.objects[key]
        epoch = int(key.split("epoch=")[1].split("/")[0])
        vnode = int(key.split("vnode=")[1].split("/")[0])
        f = struct.unpack(PARTIAL_FORMAT, old[:164])
        body = old[164:]
        fields = dict(
            magic=f[0], version=f[1], epoch=f[2], checkpoint_id=f[3], vnode=f[4], av=f[5], node=f[6],
            boot=f[7], digest=f[8], length=f[9], sha=f[10], pe=f[11], pc=f[12], total=f[13], count=f[14],
        )
        fields.update(bad)
        assert epoch == f[2] and vnode == f[4]
        r.objects[key] = struct.pack(PARTIAL_FORMAT, *fields.values()) + body

    damaged("bad-magic", "a partial whose magic is not LDBVP3", lambda r: rewrite(r, k, magic=b"LDBVPX\0\0"), [problem(k, "partial-magic")])

    def v2_wrapper(r):
        body = r.objects[k][164:]
        r.objects[k] = struct.pack(V2_PARTIAL_FORMAT, b"LDBVP2\0\0", 2, 2, 2, 1, 0, 0, ZERO16, ZERO32, len(body), sha(body)) + body

    damaged("v2-wrapper", "a partial in LaminarDB's previous wrapper (LDBVP2, 136 bytes)", v2_wrapper, [problem(k, "partial-magic")])
    damaged("bad-version", "an LDBVP3 partial claiming header version 4", lambda r: rewrite(r, k, version=4), [problem(k, "partial-version")])
    damaged("header-attempt", "a partial whose header names attempt 5, stored under attempt 2", lambda r: rewrite(r, k, epoch=5, checkpoint_id=5), [problem(k, "partial-identity")])
    damaged("header-vnode", "a partial whose header names vnode 2, stored as vnode 1", lambda r: rewrite(r, k, vnode=2), [problem(k, "partial-identity")])
    damaged("half-zero-writer", "a writer with a node id but a nil boot incarnation and no digest", lambda r: rewrite(r, k, node=7), [problem(k, "partial-writer")])
    damaged("bad-lineage", "a root partial that counts two artifacts", lambda r: rewrite(r, partial_key(1, 0), count=2), [problem(partial_key(1, 0), "partial-lineage")])

    def short(r):
        r.objects[k] = r.objects[k][:-2]

    damaged("short-object", "a partial two bytes shorter than its header says", short, [problem(k, "partial-size")])

    def long_(r):
        r.objects[k] = r.objects[k] + b"\0"

    damaged("long-object", "a partial one byte longer than its header says", long_, [problem(k, "partial-size")])

    def flip(r):
        b = bytearray(r.objects[k])
        b[-1] ^= 0x01
        r.objects[k] = bytes(b)

    damaged("wrong-hash", "a partial whose payload no longer has the SHA-256 its header carries", flip, [problem(k, "partial-sha256")])

    d = descriptor_key(3, "sink=audit")

    def rewrite_descriptor(r, **bad):
        old = r.objects[d]
        f = struct.unpack(DESCRIPTOR_FORMAT, old[:204])
        names = ["magic", "version", "epoch", "checkpoint_id", "key_sha", "av", "digest", "node", "boot", "lnode", "lboot", "term", "token", "length", "sha"]
        fields = dict(zip(names, f))
        fields.update(bad)
        r.objects[d] = struct.pack(DESCRIPTOR_FORMAT, *fields.values()) + old[204:]

    damaged("descriptor-magic", "a commit descriptor whose magic is not LDBCD2", lambda r: rewrite_descriptor(r, magic=b"LDBCD1\0\0"), [problem(d, "descriptor-magic")])
    damaged("descriptor-version", "a commit descriptor claiming header version 3", lambda r: rewrite_descriptor(r, version=3), [problem(d, "descriptor-version")])
    damaged("descriptor-key", "a descriptor whose header hashes another key", lambda r: rewrite_descriptor(r, key_sha=sha(b"sink=other")), [problem(d, "descriptor-identity")])
    damaged("descriptor-half-writer", "a descriptor with an assignment version and nothing else", lambda r: rewrite_descriptor(r, av=3), [problem(d, "descriptor-writer")])

    def descriptor_short(r):
        r.objects[d] = r.objects[d][:-1]

    damaged("descriptor-short", "a descriptor one byte short", descriptor_short, [problem(d, "descriptor-size")])

    def descriptor_flip(r):
        b = bytearray(r.objects[d])
        b[-1] ^= 0x20
        r.objects[d] = bytes(b)

    damaged("descriptor-hash", "a descriptor whose payload does not match its SHA-256", descriptor_flip, [problem(d, "descriptor-sha256")])

    s3 = seal_key(3)

    def edit_seal(epoch, fn):
        def mutate(r):
            doc = json.loads(r.objects[seal_key(epoch)])
            fn(doc)
            r.put_seal(epoch, doc)

        return mutate

    damaged("seal-v7", "a seal of version 7 (LaminarDB before Core Cycle 9)", edit_seal(3, lambda s: s.update(version=7)), [problem(s3, "seal-version")])
    damaged("seal-attempt", "a seal whose body names attempt 4, stored under attempt 3", edit_seal(3, lambda s: s.update(attempt={"epoch": 4, "checkpoint_id": 4})), [problem(s3, "seal-attempt")])

    def seal_sha(s):
        s["sealed_partials"][1]["payload_sha256"] = "0" * 64

    damaged("seal-inventory", "a seal whose entry for vnode 1 names another SHA-256 than the partial's header", edit_seal(3, seal_sha), [problem(partial_key(3, 1), "seal-inventory")])

    def seal_len(s):
        d0 = s["sealed_descriptors"][0]
        d0["payload_len"] += 1

    damaged("seal-descriptor-inventory", "a seal whose descriptor entry names another length", edit_seal(3, seal_len), [problem(descriptor_key(3, "participant=7/sink=orders"), "seal-inventory")])

    def drop_partial(r):
        del r.objects[partial_key(3, 2)]

    damaged("seal-missing-partial", "a seal naming vnode 2 whose partial.bin is gone", drop_partial, [problem(partial_key(3, 2), "seal-missing")])

    def drop_descriptor(r):
        del r.objects[d]

    damaged("seal-missing-descriptor", "a seal naming a descriptor that is gone", drop_descriptor, [problem(d, "seal-missing")])

    def unsorted(s):
        s["required_vnodes"] = [1, 0, 2]

    damaged("seal-unsorted-vnodes", "a seal whose vnode roster is not ascending", edit_seal(3, unsorted), [problem(s3, "seal-invalid")])

    def unsorted_keys(s):
        s["required_descriptors"].reverse()
        s["sealed_descriptors"].reverse()

    damaged("seal-unsorted-descriptors", "a seal whose descriptor keys are not sorted", edit_seal(3, unsorted_keys), [problem(s3, "seal-invalid")])
    damaged("seal-empty-instance", "a seal with an empty instance_id", edit_seal(3, lambda s: s.update(instance_id="")), [problem(s3, "seal-invalid")])
    damaged("seal-nil-execution", "a seal with the nil execution_id", edit_seal(3, lambda s: s.update(execution_id="00000000-0000-0000-0000-000000000000")), [problem(s3, "seal-invalid")])

    def not_json(r):
        r.objects[s3] = r.objects[s3][:-1]

    damaged("seal-not-json", "a seal cut short: not JSON", not_json, [problem(s3, "seal-json")])

    def ns_pretty(r):
        doc = json.loads(r.objects[ROOT + "_NAMESPACE"])
        r.objects[ROOT + "_NAMESPACE"] = json.dumps(doc, indent=1).encode()

    damaged("namespace-noncanonical", "a namespace marker with whitespace (not serde_json's bytes)", ns_pretty, [problem(ROOT + "_NAMESPACE", "namespace-noncanonical")])

    def ns_unknown(r):
        doc = json.loads(r.objects[ROOT + "_NAMESPACE"])
        doc["extra"] = 1
        r.objects[ROOT + "_NAMESPACE"] = canonical_json(doc)

    damaged("namespace-unknown-field", "a namespace marker with an unknown field", ns_unknown, [problem(ROOT + "_NAMESPACE", "namespace-invalid")])

    def ns_upper(r):
        doc = json.loads(r.objects[ROOT + "_NAMESPACE"])
        doc["deployment_id"] = doc["deployment_id"].upper()
        r.objects[ROOT + "_NAMESPACE"] = canonical_json(doc)

    damaged("namespace-uuid", "a namespace whose deployment id is upper case", ns_upper, [problem(ROOT + "_NAMESPACE", "namespace-invalid")])

    def ns_missing(r):
        del r.objects[ROOT + "_NAMESPACE"]

    damaged("namespace-missing", "a root with attempts and no namespace marker (unbound)", ns_missing, [problem(ROOT + "_NAMESPACE", "namespace-missing")])

    def floor_pretty(r):
        r.objects[ROOT + "_PRUNE_FLOOR"] = b'{"version":1, "before_epoch":1,"swept_before_epoch":0}'

    damaged("floor-noncanonical", "a prune floor with a space (not serde_json's bytes)", floor_pretty, [problem(ROOT + "_PRUNE_FLOOR", "floor-noncanonical")])

    def floor_swept(r):
        r.objects[ROOT + "_PRUNE_FLOOR"] = floor_bytes(1, 2)

    damaged("floor-swept-above", "a prune floor whose sweep cursor is above its floor", floor_swept, [problem(ROOT + "_PRUNE_FLOOR", "floor-invalid")])

    def drop_attempt_2(r):
        r.delete_epoch(2)

    damaged(
        "missing-ancestor",
        "attempt 3 is a delta of 2, and attempt 2 is gone",
        drop_attempt_2,
        [problem(seal_key(2), "ancestor-missing")],
    )

    def unseal_2(r):
        del r.objects[seal_key(2)]

    damaged("unsealed-ancestor", "attempt 3 is a delta of 2, and 2 has no _SEAL", unseal_2, [problem(seal_key(2), "ancestor-unsealed")])
    damaged(
        "ancestor-below-floor",
        "floor 2 retires attempt 1, which attempt 3's chain needs (its objects are still there)",
        lambda r: None,
        [problem(seal_key(1), "ancestor-below-floor")],
        warnings=[problem(attempt_prefix(1), "below-floor")],
        floor=(2, 0),
    )

    def arithmetic(r):
        # Locally valid (total >= payload, count >= 2), but not the parent's total plus its own.
        rewrite(r, partial_key(3, 0), total=10_000)
        edit_seal(3, lambda s: s["sealed_partials"][0]["lineage"].update(total_payload_bytes=10_000))(r)

    damaged("lineage-arithmetic", "a delta whose lineage total is not its parent's plus its own payload", arithmetic, [problem(seal_key(3), "lineage-parent")])

    def strays(r):
        r.objects[ROOT + "epoch=5/checkpoint=6/vnode=0/partial.bin"] = b"x"
        r.objects[attempt_prefix(3) + "srcoff/node-1"] = b"{}"
        r.objects[ROOT + "epoch=07/checkpoint=07/_SEAL"] = b"{}"
        r.objects["epoch=2/_COMMIT"] = b"73"

    damaged(
        "strays",
        "objects LaminarDB never reads: a non-canonical attempt, a V1 srcoff/ object, a padded epoch, a legacy marker",
        strays,
        [],
        warnings=[
            problem(ROOT + "epoch=5/checkpoint=6/", "noncanonical-attempt"),
            problem(attempt_prefix(3) + "srcoff/node-1", "stray-key"),
            problem(ROOT + "epoch=07/checkpoint=07/_SEAL", "stray-key"),
            problem("epoch=", "legacy-layout"),
        ],
        restorable=True,
    )

    # --- the layout LaminarDB wrote before state-v2 ---
    legacy = {
        "epoch=1/vnode=0/partial.bin": b"a",
        "epoch=1/vnode=1/partial.bin": b"bb",
        "epoch=1/_COMMIT": b"node-1",
        "epoch=2/vnode=0/partial.bin": b"ccc",
        "epoch=2/vnode=1/partial.bin": b"dddd",
        "epoch=2/commit/node=1/sink=orders": b"{}",
        "epoch=2/srcoff/node-1": b'{"p0":12}',
        "epoch=2/_COMMIT": b"node-1",
        "epoch=3/vnode=0/partial.bin": b"eeeee",
    }
    case("legacy", legacy, "the seed layout: two sealed epochs, one unsealed", candidate=2, restorable=True, layout="legacy")
    bad = dict(legacy)
    bad["epoch=2/_COMMIT"] = b"\xff\xfe"
    case("legacy-bad-marker", bad, "a _COMMIT whose body is not UTF-8", problems=[problem("epoch=2/_COMMIT", "commit-marker")], candidate=2, restorable=False, layout="legacy")


def timeline(name, description, steps):
    """`steps`: (root objects after the step, what a mirror target holds once caught up: the
    floor's before_epoch or None, the sealed attempts)."""
    out = []
    previous = {}
    for objects, floor, sealed in steps:
        put = {k: segments(v) for k, v in sorted(objects.items()) if previous.get(k) != v}
        delete = sorted(k for k in previous if k not in objects)
        out.append({"put": put, "delete": delete, "expect": {"floor": None if floor is None else str(floor), "sealed": [str(e) for e in sealed]}})
        previous = dict(objects)
    TIMELINES[name] = {"description": description, "steps": out}


def build_timelines():
    r = Root("timeline").bind()
    r.attempt(1, [0, 1])
    r.attempt(2, [0, 1], parent=1, seal=False)
    s1 = dict(r.objects)
    r.attempt(2, [0, 1], parent=1)
    r.attempt(3, [0, 1], parent=2, seal=False)  # abandoned
    s2 = dict(r.objects)
    r.attempt(4, [0, 1], parent=2, descriptors=["participant=7/sink=orders"])
    r.attempt(5, [0, 1])
    r.floor(5, 0)  # published; the sweep has not started
    s3 = dict(r.objects)
    for e in (1, 2, 3, 4):
        r.delete_epoch(e)
    r.floor(5, 5)
    r.attempt(6, [0, 1], parent=5)
    s4 = dict(r.objects)
    timeline(
        "steady",
        "a root that grows, abandons an attempt, publishes a floor, sweeps below it",
        [(s1, None, [1]), (s2, None, [1, 2]), (s3, 5, [5]), (s4, 5, [5, 6])],
    )

    r = Root("held-floor").bind()
    r.attempt(5, [0])
    r.attempt(6, [0], parent=5)
    r.attempt(7, [0], parent=6)
    h1 = dict(r.objects)
    # A floor that retires attempt 5 while attempt 7 (retained) is built on it: LaminarDB's own
    # readers can no longer restore 7. The mirror keeps the chain and holds the floor back.
    r.floor(6, 0)
    h2 = dict(r.objects)
    r.attempt(8, [0])
    r.floor(8, 0)
    for e in (5, 6, 7):
        r.delete_epoch(e)
    r.floor(8, 8)
    h3 = dict(r.objects)
    timeline(
        "held-floor",
        "a source floor that would cut a retained chain is held back until it no longer does",
        [(h1, None, [5, 6, 7]), (h2, None, [5, 6, 7]), (h3, 8, [8])],
    )


POOLS = {}


def build_pools():
    """Attempts a model-based test publishes in any order LaminarDB could: each attempt's objects
    and seal apart, with the parents its lineage names; and the floors it may publish."""
    r = Root("pool").bind()
    parents = {1: None, 2: 1, 3: 2, 4: None, 5: 4, 6: 3, 7: 5, 8: None, 9: 8, 10: 6}
    descriptors = {3: ["sink=orders"], 7: ["participant=7/sink=orders", "sink=audit"], 9: ["sink=orders"]}
    attempts = {}
    for e, parent in parents.items():
        before = set(r.objects)
        r.attempt(e, [0, 1], parent=parent, descriptors=descriptors.get(e, []))
        written = {k: r.objects[k] for k in r.objects if k not in before}
        seal = {k: v for k, v in written.items() if k.endswith("/_SEAL")}
        attempts[str(e)] = {
            "parent": None if parent is None else str(parent),
            "objects": {k: segments(v) for k, v in sorted(written.items()) if k not in seal},
            "seal": {k: segments(v) for k, v in seal.items()},
        }
    floors = {}
    for before in (2, 4, 6, 8, 10):
        for swept in range(0, before + 1, 2):
            floors["%d/%d" % (before, swept)] = segments(floor_bytes(before, swept))
    POOLS["lineage"] = {
        "namespace": {ROOT + "_NAMESPACE": segments(r.objects[ROOT + "_NAMESPACE"])},
        "attempts": attempts,
        "floors": floors,
    }


def bundle():
    build_cases()
    build_timelines()
    build_pools()
    doc = {
        "generator": "test/support/laminardb_state_v2.py",
        "bases": {name: {k: segments(v) for k, v in sorted(objects.items())} for name, objects in BASES.items()},
        "cases": CASES,
        "timelines": TIMELINES,
        "pools": POOLS,
    }
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def main():
    out = bundle()
    path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "laminardb-state-v2.json")
    if "--write" in sys.argv:
        with open(path, "w", encoding="utf-8") as f:
            f.write(out)
    elif "--check" in sys.argv:
        with open(path, encoding="utf-8") as f:
            if f.read() != out:
                sys.stderr.write("test/fixtures/laminardb-state-v2.json is not what the script writes: run it with --write\n")
                sys.exit(1)
    else:
        sys.stdout.write(out)


if __name__ == "__main__":
    main()
