"""boto3 (AWS's own SDK) as an independent S3 client for tidemark's interop tests.

Usage: python3 boto3-peer.py COMMAND < request.json > answer.json
Connection from the environment: PEER_ENDPOINT, PEER_ACCESS_KEY_ID,
PEER_SECRET_ACCESS_KEY, PEER_REGION, PEER_BUCKET.

Commands (request and answer are JSON):
  dump   {"prefix"}  -> [{"key", "size", "etag", "md5", "body_b64", "metadata", "content_type"}]
                        every object under prefix (ListObjectsV2 pages, then GetObject each)
  write  {"objects": [{"key", "body_b64", "metadata"?, "content_type"?}]} -> [{"key", "etag"}]
  create {"key", "body_b64"} -> {"status": "created", "etag"} or {"status": HTTP status, "code"}
         (PutObject with IfNoneMatch="*")
  probe  {"keys": [...], "list_prefixes": [...]} -> {"put": {key: "ok" | code}, "list": {prefix: "ok" | code}}
         (which requests the server accepts, e.g. moto's signature check)
  sums   {"prefix"} -> [{"key", "s3_sha256", "sha256_b64", "sha256_hex", "text"}]
         every object under prefix: the SHA-256 checksum S3 keeps with it (HeadObject with
         ChecksumMode=ENABLED; null when none), hashlib's SHA-256 of its bytes, and its text
         when it is a small UTF-8 object (tidemark's checksum records)
  lock-bucket {"bucket"} -> {"created": bool, "versioning", "object_lock"}
         (CreateBucket with ObjectLockEnabledForBucket; an existing bucket of ours is fine)
  lock-report {"bucket", "prefix"} -> [{"key", "version_id", "latest", "delete_marker", "mode", "until"}]
         every version under prefix (ListObjectVersions), each one's retention as HeadObject reports it
  tamper {"bucket", "report_prefix"?, "delete_keys": [key], "overwrite": [key]}
         -> {"report": lock-report of report_prefix (before anything else), "delete": [{"key",
             "version_id", "status", "code"}], "delete_objects": [{"key", "code"}],
             "overwrite": [{"key", "status", "code", "old_md5"}]}
         what the writer's own credentials can do to locked history: DeleteObject of each version
         of delete_keys, DeleteObjects of them all, PutObject over each overwrite key (then the md5
         of the version it had); one process, so it all happens well inside a short lock
"""
import base64
import hashlib
import json
import os
import sys

import boto3
from botocore.exceptions import ClientError


def client():
    return boto3.client(
        "s3",
        endpoint_url=os.environ["PEER_ENDPOINT"],
        region_name=os.environ.get("PEER_REGION", "us-east-1"),
        aws_access_key_id=os.environ["PEER_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["PEER_SECRET_ACCESS_KEY"],
    )


def dump(s3, bucket, req):
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=req["prefix"]):
        for obj in page.get("Contents", []):
            got = s3.get_object(Bucket=bucket, Key=obj["Key"])
            body = got["Body"].read()
            out.append({
                "key": obj["Key"],
                "size": obj["Size"],
                "etag": obj["ETag"].strip('"'),
                "md5": hashlib.md5(body).hexdigest(),
                "body_b64": base64.b64encode(body).decode() if len(body) <= 1 << 20 else None,
                "metadata": got.get("Metadata", {}),
                "content_type": got.get("ContentType"),
            })
    return out


def write(s3, bucket, req):
    out = []
    for o in req["objects"]:
        extra = {}
        if o.get("metadata"):
            extra["Metadata"] = o["metadata"]
        if o.get("content_type"):
            extra["ContentType"] = o["content_type"]
        r = s3.put_object(Bucket=bucket, Key=o["key"], Body=base64.b64decode(o["body_b64"]), **extra)
        out.append({"key": o["key"], "etag": r["ETag"].strip('"')})
    return out


def create(s3, bucket, req):
    try:
        r = s3.put_object(Bucket=bucket, Key=req["key"], Body=base64.b64decode(req["body_b64"]), IfNoneMatch="*")
        return {"status": "created", "etag": r["ETag"].strip('"')}
    except ClientError as e:
        return {"status": e.response["ResponseMetadata"]["HTTPStatusCode"], "code": e.response["Error"]["Code"]}


def probe(s3, bucket, req):
    def attempt(fn):
        try:
            fn()
            return "ok"
        except ClientError as e:
            return e.response["Error"]["Code"]

    return {
        "put": {k: attempt(lambda k=k: s3.put_object(Bucket=bucket, Key=k, Body=b"x")) for k in req["keys"]},
        "list": {
            p: attempt(lambda p=p: s3.list_objects_v2(Bucket=bucket, Prefix=p)) for p in req["list_prefixes"]
        },
    }


def sums(s3, bucket, req):
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=req["prefix"]):
        for obj in page.get("Contents", []):
            head = s3.head_object(Bucket=bucket, Key=obj["Key"], ChecksumMode="ENABLED")
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            digest = hashlib.sha256(body).digest()
            try:
                text = body.decode("utf-8") if len(body) <= 1 << 16 else None
            except UnicodeDecodeError:
                text = None
            out.append({
                "key": obj["Key"],
                "s3_sha256": head.get("ChecksumSHA256"),
                "sha256_b64": base64.b64encode(digest).decode(),
                "sha256_hex": digest.hex(),
                "text": text,
            })
    return out


def error_of(e):
    return {"status": e.response["ResponseMetadata"]["HTTPStatusCode"], "code": e.response["Error"]["Code"]}


def lock_bucket(s3, _bucket, req):
    created = True
    try:
        s3.create_bucket(Bucket=req["bucket"], ObjectLockEnabledForBucket=True)
    except ClientError as e:
        if e.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
        created = False
    versioning = s3.get_bucket_versioning(Bucket=req["bucket"]).get("Status")
    lock = s3.get_object_lock_configuration(Bucket=req["bucket"])["ObjectLockConfiguration"]
    return {"created": created, "versioning": versioning, "object_lock": lock.get("ObjectLockEnabled")}


def lock_report(s3, _bucket, req):
    out = []
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=req["bucket"], Prefix=req["prefix"])
    for page in pages:
        for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
            row = {"key": v["Key"], "version_id": v["VersionId"], "latest": v["IsLatest"],
                   "delete_marker": "ETag" not in v, "mode": None, "until": None}
            if not row["delete_marker"]:
                h = s3.head_object(Bucket=req["bucket"], Key=v["Key"], VersionId=v["VersionId"])
                row["mode"] = h.get("ObjectLockMode")
                until = h.get("ObjectLockRetainUntilDate")
                row["until"] = until.isoformat() if until else None
            out.append(row)
    return out


def tamper(s3, _bucket, req):
    b = req["bucket"]
    out = {"delete": [], "delete_objects": [], "overwrite": []}
    if req.get("report_prefix") is not None:
        out["report"] = lock_report(s3, _bucket, {"bucket": b, "prefix": req["report_prefix"]})
    versions = []
    for key in req["delete_keys"]:
        for v in s3.list_object_versions(Bucket=b, Prefix=key).get("Versions", []):
            if v["Key"] == key:
                versions.append({"key": key, "version_id": v["VersionId"]})
    for v in versions:
        try:
            s3.delete_object(Bucket=b, Key=v["key"], VersionId=v["version_id"])
            out["delete"].append({**v, "status": 204, "code": None})
        except ClientError as e:
            out["delete"].append({**v, **error_of(e)})
    if versions:
        objects = [{"Key": v["key"], "VersionId": v["version_id"]} for v in versions]
        r = s3.delete_objects(Bucket=b, Delete={"Objects": objects})
        out["delete_objects"] = [{"key": e["Key"], "code": e["Code"]} for e in r.get("Errors", [])]
    for key in req["overwrite"]:
        before = s3.head_object(Bucket=b, Key=key)["VersionId"]
        row = {"key": key, "status": 200, "code": None}
        try:
            s3.put_object(Bucket=b, Key=key, Body=b"tampered")
        except ClientError as e:
            row.update(error_of(e))
        old = s3.get_object(Bucket=b, Key=key, VersionId=before)["Body"].read()
        row["old_md5"] = hashlib.md5(old).hexdigest()
        out["overwrite"].append(row)
    return out


def main():
    command = sys.argv[1]
    req = json.load(sys.stdin)
    s3 = client()
    bucket = os.environ["PEER_BUCKET"]
    answer = {
        "dump": dump,
        "write": write,
        "create": create,
        "probe": probe,
        "sums": sums,
        "lock-bucket": lock_bucket,
        "lock-report": lock_report,
        "tamper": tamper,
    }[command](s3, bucket, req)
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
