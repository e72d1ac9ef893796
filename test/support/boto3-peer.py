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


def main():
    command = sys.argv[1]
    req = json.load(sys.stdin)
    s3 = client()
    bucket = os.environ["PEER_BUCKET"]
    answer = {"dump": dump, "write": write, "create": create, "probe": probe, "sums": sums}[command](s3, bucket, req)
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
