"""A boto3 program reading a bucket through `readpath serve`, as a data pipeline would.

Run by test/integration/gateway-boto3.test.ts with Debian's /usr/bin/python3 (python3-boto3).
It takes a JSON job as its one argument and prints one JSON report on stdout: what each boto3 call
returned (SHA-256 of bodies, listings, parsed headers, error codes). It asserts nothing itself:
the test compares the report with what the bucket holds.
"""
import hashlib
import json
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

job = json.loads(sys.argv[1])
bucket = job["bucket"]


def client(addressing="path", secret=None, proxy=None):
    cfg = Config(
        s3={"addressing_style": addressing},
        signature_version="s3v4",
        retries={"max_attempts": 1, "mode": "standard"},
        proxies={"http": proxy} if proxy else None,
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=job["endpoint"] if proxy is None else job["virtual_endpoint"],
        region_name=job["region"],
        aws_access_key_id=job["id"],
        aws_secret_access_key=secret or job["secret"],
        config=cfg,
    )


def sha(b):
    return hashlib.sha256(b).hexdigest()


def error_of(fn):
    try:
        fn()
        return None
    except ClientError as e:
        return {"code": e.response["Error"]["Code"], "status": e.response["ResponseMetadata"]["HTTPStatusCode"]}


s3 = client()
report = {}

# Paginators: ListObjectsV2 by continuation token, then by directory; ListObjectVersions by key marker.
pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 2})
report["list_v2"] = [o["Key"] for p in pages for o in p.get("Contents", [])]
report["list_v2_sizes"] = {o["Key"]: o["Size"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket) for o in p.get("Contents", [])}
dirs = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 2})
report["list_dirs"] = {
    "keys": [o["Key"] for p in dirs for o in p.get("Contents", [])],
}
report["list_dirs"]["prefixes"] = [c["Prefix"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 2}) for c in p.get("CommonPrefixes", [])]
report["list_v1"] = [o["Key"] for p in s3.get_paginator("list_objects").paginate(Bucket=bucket, PaginationConfig={"PageSize": 3}) for o in p.get("Contents", [])]
versions = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, PaginationConfig={"PageSize": 2})
report["versions"] = [[v["Key"], v["VersionId"]] for p in versions for v in p.get("Versions", [])]
report["versioning"] = s3.get_bucket_versioning(Bucket=bucket).get("Status")

# Every small object whole, with get_object; head_object's parsed fields.
report["bodies"] = {k: sha(s3.get_object(Bucket=bucket, Key=k)["Body"].read()) for k in job["keys"]}
h = s3.head_object(Bucket=bucket, Key=job["range_key"])
report["head"] = {"length": h["ContentLength"], "etag": h["ETag"], "type": h["ContentType"], "ranges": h.get("AcceptRanges")}
r = s3.get_object(Bucket=bucket, Key=job["range_key"], Range="bytes=5-20")
report["range"] = {"sha": sha(r["Body"].read()), "content_range": r["ContentRange"], "length": r["ContentLength"]}

# Checksum mode: botocore checks the body against x-amz-checksum-sha256 as it reads it.
c = s3.get_object(Bucket=bucket, Key=job["range_key"], ChecksumMode="ENABLED")
report["checksum_get"] = {"checksum": c.get("ChecksumSHA256"), "sha": sha(c["Body"].read())}
c = s3.get_object(Bucket=bucket, Key=job["big_key"], ChecksumMode="ENABLED")
report["checksum_big"] = {"checksum": c.get("ChecksumSHA256"), "sha": sha(c["Body"].read())}
report["checksum_head"] = s3.head_object(Bucket=bucket, Key=job["range_key"], ChecksumMode="ENABLED").get("ChecksumSHA256")

# s3transfer: a large object in ranged parts on 4 threads, and into a file object.
cfg = TransferConfig(multipart_threshold=4 * 1024 * 1024, multipart_chunksize=4 * 1024 * 1024, max_concurrency=4)
with tempfile.NamedTemporaryFile() as f:
    s3.download_file(bucket, job["big_key"], f.name, Config=cfg)
    with open(f.name, "rb") as g:
        report["download_file"] = sha(g.read())
with tempfile.TemporaryFile() as f:
    s3.download_fileobj(bucket, job["big_key"], f, Config=cfg)
    f.seek(0)
    report["download_fileobj"] = sha(f.read())

# The resource API: a filtered collection, an object's attributes.
res = boto3.session.Session().resource(
    "s3", endpoint_url=job["endpoint"], region_name=job["region"], aws_access_key_id=job["id"],
    aws_secret_access_key=job["secret"], config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
)
report["resource_filter"] = [o.key for o in res.Bucket(bucket).objects.filter(Prefix=job["prefix"])]
report["resource_size"] = res.Object(bucket, job["range_key"]).content_length

# A presigned URL, fetched with the standard library, and one for another key's signature.
url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": job["range_key"]}, ExpiresIn=300)
with urllib.request.urlopen(url) as resp:
    report["presigned"] = sha(resp.read())
# The signature covered the key's path: the same query string for another key must not pass.
parts = urllib.parse.urlsplit(url)
tampered = urllib.parse.urlunsplit(parts._replace(path="/" + bucket + "/" + urllib.parse.quote(job["other_key"])))
try:
    urllib.request.urlopen(tampered)
    report["presigned_tampered"] = 200
except urllib.error.HTTPError as e:
    report["presigned_tampered"] = e.code

# Refusals, as boto3 raises them.
report["missing"] = error_of(lambda: s3.head_object(Bucket=bucket, Key="no/such/key"))
report["missing_get"] = error_of(lambda: s3.get_object(Bucket=bucket, Key="no/such/key"))
report["put"] = error_of(lambda: s3.put_object(Bucket=bucket, Key="new.txt", Body=b"x"))
report["delete"] = error_of(lambda: s3.delete_object(Bucket=bucket, Key=job["range_key"]))
report["wrong_secret"] = error_of(lambda: client(secret="not-the-secret").get_object(Bucket=bucket, Key=job["range_key"]))

# Virtual-hosted style (boto3's default addressing) through the gateway as the HTTP proxy.
if job.get("virtual_endpoint"):
    v = client("virtual", proxy=job["endpoint"])
    report["virtual"] = {
        "body": sha(v.get_object(Bucket=bucket, Key=job["range_key"])["Body"].read()),
        "keys": [o["Key"] for p in v.get_paginator("list_objects_v2").paginate(Bucket=bucket) for o in p.get("Contents", [])],
    }

json.dump(report, sys.stdout)
