"""boto3 against the zero-config S3 listener: every operation (buckets, objects, listings,
conditional writes and their races, multipart uploads and their listing), the default
checksum behaviour of botocore >= 1.36 (CRC32 headers, aws-chunked trailers for unseekable
streams), and the cross-API view (an object written by one API is read, listed and deleted
by the other)."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from conftest import S3Server, TlsProxy, Unseekable, error_code, s3

MiB = 1024 * 1024


def bucket(client, name: str) -> str:
    client.create_bucket(Bucket=name)
    return name


def assert_trustworthy_etag(etag: str, body: bytes) -> None:
    """An ETag of 32 hex digits is the body's MD5; any other is an opaque `-N` tag (objects
    stored without an MD5), never mistaken for one."""
    value = etag.strip('"')
    if len(value) == 32 and all(c in "0123456789abcdef" for c in value):
        assert value == hashlib.md5(body).hexdigest(), etag
    else:
        assert "-" in value, etag


def test_buckets(server: S3Server) -> None:
    client = s3(server)
    bucket(client, "boto-buckets")
    client.create_bucket(Bucket="boto-buckets")  # idempotent
    client.head_bucket(Bucket="boto-buckets")
    names = [b["Name"] for b in client.list_buckets()["Buckets"]]
    assert "boto-buckets" in names
    assert client.get_bucket_location(Bucket="boto-buckets").get("LocationConstraint") is None
    with pytest.raises(ClientError) as e:
        client.head_bucket(Bucket="no-such-bucket")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as e:
        client.create_bucket(Bucket="dots.are.not.usecases")
    assert error_code(e) == "InvalidBucketName"
    with pytest.raises(ClientError) as e:
        client.put_object(Bucket="no-such-bucket", Key="k", Body=b"x")
    assert error_code(e) == "NoSuchBucket"


def test_objects_round_trip(server: S3Server) -> None:
    client = s3(server)
    name = bucket(client, "boto-objects")
    put = client.put_object(
        Bucket=name,
        Key="org=7/reports/q1.csv",
        Body=b"a,b\n1,2\n",
        ContentType="text/csv",
        Metadata={"author": "Zoe"},
    )
    etag = put["ETag"]
    assert_trustworthy_etag(etag, b"a,b\n1,2\n")
    got = client.get_object(Bucket=name, Key="org=7/reports/q1.csv")
    assert got["Body"].read() == b"a,b\n1,2\n"
    assert got["ContentType"] == "text/csv"
    assert got["Metadata"] == {"author": "Zoe"}
    assert got["ETag"] == etag
    head = client.head_object(Bucket=name, Key="org=7/reports/q1.csv")
    assert head["ContentLength"] == 8 and head["ETag"] == etag

    part = client.get_object(Bucket=name, Key="org=7/reports/q1.csv", Range="bytes=4-6")
    assert part["Body"].read() == b"1,2"
    assert part["ContentRange"] == "bytes 4-6/8"
    with pytest.raises(ClientError) as e:
        client.get_object(Bucket=name, Key="org=7/reports/q1.csv", Range="bytes=100-")
    assert error_code(e) == "InvalidRange"
    with pytest.raises(ClientError) as e:
        client.get_object(Bucket=name, Key="org=7/reports/q1.csv", IfNoneMatch=etag)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    with pytest.raises(ClientError) as e:
        client.get_object(Bucket=name, Key="org=7/reports/q1.csv", IfMatch='"other"')
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412

    client.delete_object(Bucket=name, Key="org=7/reports/q1.csv")
    with pytest.raises(ClientError) as e:
        client.get_object(Bucket=name, Key="org=7/reports/q1.csv")
    assert error_code(e) == "NoSuchKey"
    client.delete_object(Bucket=name, Key="never-existed")


@pytest.mark.large
@pytest.mark.parametrize("size", [1 * MiB + 5, 12 * MiB + 3])
def test_upload_fileobj_of_an_unseekable_stream(
    server: S3Server, tls: TlsProxy, size: int
) -> None:
    """Over HTTPS, botocore >= 1.36 sends streaming uploads as aws-chunked bodies with a CRC32
    trailer by default (over plain HTTP it uses a header)."""
    client = s3(server, tls=tls)
    name = bucket(client, "boto-stream")
    seen: list[dict] = []

    def record(request, **_):
        seen.append(dict(request.headers))

    client.meta.events.register("before-send.s3.PutObject", record)
    client.meta.events.register("before-send.s3.UploadPart", record)
    data = os.urandom(size)
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    client.upload_fileobj(Unseekable(data), name, f"stream-{size}", Config=config)
    assert any("x-amz-trailer" in {k.lower() for k in h} for h in seen), seen
    got = client.get_object(Bucket=name, Key=f"stream-{size}")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()

    target = io.BytesIO()
    client.download_fileobj(name, f"stream-{size}", target)
    assert target.getvalue() == data


def test_checksums_are_verified(server: S3Server) -> None:
    client = s3(server)
    name = bucket(client, "boto-sums")
    client.put_object(Bucket=name, Key="k", Body=b"original")
    with pytest.raises(ClientError) as e:
        client.put_object(Bucket=name, Key="k", Body=b"changed", ChecksumCRC32="AAAAAA==")
    assert error_code(e) == "BadDigest"
    assert client.get_object(Bucket=name, Key="k")["Body"].read() == b"original"
    ok = client.put_object(Bucket=name, Key="k", Body=b"changed", ChecksumAlgorithm="SHA256")
    assert ok["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(b"changed").digest()).decode()


def test_delete_objects(server: S3Server) -> None:
    client = s3(server)
    name = bucket(client, "boto-bulk")
    keys = [f"scope=a/k{i}" for i in range(5)] + ["plain", "a/../b"]
    for key in keys[:-1]:
        client.put_object(Bucket=name, Key=key, Body=b"x")
    result = client.delete_objects(
        Bucket=name, Delete={"Objects": [{"Key": k} for k in keys]}
    )
    assert sorted(d["Key"] for d in result["Deleted"]) == sorted(keys[:-1])
    assert [e["Key"] for e in result["Errors"]] == ["a/../b"]
    quiet = client.delete_objects(
        Bucket=name, Delete={"Objects": [{"Key": "plain"}], "Quiet": True}
    )
    assert "Deleted" not in quiet and "Errors" not in quiet


def test_copy_object(server: S3Server) -> None:
    client = s3(server)
    name = bucket(client, "boto-copy")
    put = client.put_object(
        Bucket=name, Key="src", Body=b"payload", ContentType="text/plain", Metadata={"m": "1"}
    )
    client.copy_object(Bucket=name, Key="same-meta", CopySource={"Bucket": name, "Key": "src"})
    head = client.head_object(Bucket=name, Key="same-meta")
    assert head["ContentType"] == "text/plain" and head["Metadata"] == {"m": "1"}
    client.copy_object(
        Bucket=name,
        Key="new-meta",
        CopySource={"Bucket": name, "Key": "src"},
        MetadataDirective="REPLACE",
        ContentType="application/json",
        Metadata={"m": "2"},
    )
    head = client.head_object(Bucket=name, Key="new-meta")
    assert head["ContentType"] == "application/json" and head["Metadata"] == {"m": "2"}
    with pytest.raises(ClientError) as e:
        client.copy_object(
            Bucket=name,
            Key="x",
            CopySource={"Bucket": name, "Key": "src"},
            CopySourceIfNoneMatch=put["ETag"],
        )
    assert error_code(e) == "PreconditionFailed"


@pytest.mark.large
def test_multipart_operations(server: S3Server) -> None:
    client = s3(server)
    name = bucket(client, "boto-multipart")
    source = os.urandom(6 * MiB)
    client.put_object(Bucket=name, Key="source", Body=source)
    upload = client.create_multipart_upload(Bucket=name, Key="assembled", ContentType="x/y")
    uid = upload["UploadId"]
    first = os.urandom(5 * MiB)
    p1 = client.upload_part(Bucket=name, Key="assembled", UploadId=uid, PartNumber=1, Body=first)
    p2 = client.upload_part_copy(
        Bucket=name,
        Key="assembled",
        UploadId=uid,
        PartNumber=2,
        CopySource={"Bucket": name, "Key": "source"},
        CopySourceRange="bytes=100-1099",
    )
    parts = client.list_parts(Bucket=name, Key="assembled", UploadId=uid)["Parts"]
    assert [p["PartNumber"] for p in parts] == [1, 2]
    assert parts[1]["Size"] == 1000
    client.complete_multipart_upload(
        Bucket=name,
        Key="assembled",
        UploadId=uid,
        MultipartUpload={
            "Parts": [
                {"PartNumber": 1, "ETag": p1["ETag"]},
                {"PartNumber": 2, "ETag": p2["CopyPartResult"]["ETag"]},
            ]
        },
    )
    got = client.get_object(Bucket=name, Key="assembled")
    assert got["ContentType"] == "x/y"
    assert got["Body"].read() == first + source[100:1100]

    other = client.create_multipart_upload(Bucket=name, Key="abandoned")["UploadId"]
    client.upload_part(Bucket=name, Key="abandoned", UploadId=other, PartNumber=1, Body=b"x")
    with pytest.raises(ClientError) as e:
        client.complete_multipart_upload(
            Bucket=name,
            Key="abandoned",
            UploadId=other,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"0000"'}]},
        )
    assert error_code(e) == "InvalidPart"
    client.abort_multipart_upload(Bucket=name, Key="abandoned", UploadId=other)
    with pytest.raises(ClientError) as e:
        client.head_object(Bucket=name, Key="abandoned")


def test_bad_input_is_a_client_error(server: S3Server) -> None:
    client = s3(server)
    name = bucket(client, "boto-bad")
    for key in ["a/../b", "dir/", "a//b"]:
        with pytest.raises(ClientError) as e:
            client.put_object(Bucket=name, Key=key, Body=b"x")
        assert error_code(e) == "InvalidArgument", key
    with pytest.raises(ClientError) as e:
        client.put_object(Bucket=name, Key="refused", Body=b"x", StorageClass="GLACIER")
    assert error_code(e) == "NotImplemented"
    with pytest.raises(ClientError):
        client.head_object(Bucket=name, Key="refused")


def test_standard_headers_round_trip(server: S3Server) -> None:
    client = s3(server)
    name = bucket(client, "boto-headers")
    fields = {
        "CacheControl": "max-age=300, public",
        "ContentLanguage": "fr-CH",
        "ContentDisposition": 'inline; filename="a b.txt"',
        "ContentEncoding": "br",
    }
    client.put_object(Bucket=name, Key="h", Body=b"x", Expires="2045-01-01T00:00:00Z", **fields)
    for got in [
        client.head_object(Bucket=name, Key="h"),
        client.get_object(Bucket=name, Key="h"),
    ]:
        for field, value in fields.items():
            assert got[field] == value, field
        assert "01 Jan 2045 00:00:00 GMT" in got["ResponseMetadata"]["HTTPHeaders"]["expires"]
    client.copy_object(Bucket=name, Key="copied", CopySource={"Bucket": name, "Key": "h"})
    copied = client.head_object(Bucket=name, Key="copied")
    for field, value in fields.items():
        assert copied[field] == value, f"COPY directive keeps {field}"


def test_presigned_urls_work_without_credentials(server: S3Server) -> None:
    client = s3(server)
    name = bucket(client, "boto-presign")
    client.put_object(Bucket=name, Key="k", Body=b"shared")
    url = client.generate_presigned_url("get_object", Params={"Bucket": name, "Key": "k"})
    assert "AWSAccessKeyId=" in url, "boto3's default for a custom endpoint is SigV2"
    with urllib.request.urlopen(url) as response:
        assert response.read() == b"shared"


def test_list_objects_v2_and_v1(server: S3Server) -> None:
    client = s3(server)
    name = bucket(client, "boto-listing")
    keys = ["a/1", "a/2", "a/b/3", "b", "c d+e", "org=1/x", "zé"]
    for key in keys:
        client.put_object(Bucket=name, Key=key, Body=key.encode())
    listed = client.list_objects_v2(Bucket=name)
    assert [o["Key"] for o in listed["Contents"]] == keys
    assert listed["KeyCount"] == len(keys) and not listed["IsTruncated"]
    assert [o["Size"] for o in listed["Contents"]] == [len(k.encode()) for k in keys]
    heads = [client.head_object(Bucket=name, Key=k)["ETag"] for k in keys]
    assert [o["ETag"] for o in listed["Contents"]] == heads, "listing and HEAD agree on ETags"

    rolled = client.list_objects_v2(Bucket=name, Delimiter="/")
    assert [o["Key"] for o in rolled["Contents"]] == ["b", "c d+e", "zé"]
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["a/", "org=1/"]
    inner = client.list_objects_v2(Bucket=name, Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in inner["Contents"]] == ["a/1", "a/2"]
    assert [p["Prefix"] for p in inner["CommonPrefixes"]] == ["a/b/"]
    after = client.list_objects_v2(Bucket=name, StartAfter="b")
    assert [o["Key"] for o in after["Contents"]] == ["c d+e", "org=1/x", "zé"]
    owned = client.list_objects_v2(Bucket=name, FetchOwner=True, MaxKeys=1)
    assert owned["Contents"][0]["Owner"]["ID"] == "objectstore"
    assert owned["IsTruncated"] and "NextContinuationToken" in owned
    # Asked for explicitly, encoding-type=url reaches the caller encoded (botocore decodes
    # only what it asked for itself: its paginators and default calls pass through above).
    encoded = client.list_objects_v2(Bucket=name, EncodingType="url")
    assert [urllib.parse.unquote(o["Key"]) for o in encoded["Contents"]] == keys
    assert [o["Key"] for o in encoded["Contents"]][4:] == ["c%20d%2Be", "org%3D1/x", "z%C3%A9"]

    for delimiter in ["", "/"]:
        paginator = client.get_paginator("list_objects_v2")
        pages = list(paginator.paginate(Bucket=name, Delimiter=delimiter, PaginationConfig={"PageSize": 2}))
        assert len(pages) > 1
        seen = [o["Key"] for p in pages for o in p.get("Contents", [])]
        seen += [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])]
        expected = keys if not delimiter else ["a/", "b", "c d+e", "org=1/", "zé"]
        assert sorted(seen) == sorted(expected), delimiter

    v1 = client.get_paginator("list_objects")
    pages = list(v1.paginate(Bucket=name, Delimiter="/", PaginationConfig={"PageSize": 1}))
    seen = [o["Key"] for p in pages for o in p.get("Contents", [])]
    seen += [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])]
    assert sorted(seen) == ["a/", "b", "c d+e", "org=1/", "zé"]
    marked = client.list_objects(Bucket=name, Marker="a/b/3")
    assert [o["Key"] for o in marked["Contents"]] == ["b", "c d+e", "org=1/x", "zé"]


def test_delete_bucket_only_when_empty(server: S3Server) -> None:
    client = s3(server)
    name = bucket(client, "boto-doomed")
    client.put_object(Bucket=name, Key="last", Body=b"x")
    with pytest.raises(ClientError) as e:
        client.delete_bucket(Bucket=name)
    assert error_code(e) == "BucketNotEmpty"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    client.delete_object(Bucket=name, Key="last")
    client.delete_bucket(Bucket=name)
    assert name not in [b["Name"] for b in client.list_buckets()["Buckets"]]
    with pytest.raises(ClientError) as e:
        client.head_bucket(Bucket=name)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_list_multipart_uploads(server: S3Server) -> None:
    client = s3(server)
    name = bucket(client, "boto-uploads")
    ids = {}
    for key in ["logs/a", "logs/b", "top"]:
        ids[key] = client.create_multipart_upload(Bucket=name, Key=key)["UploadId"]
    listed = client.list_multipart_uploads(Bucket=name)
    assert [(u["Key"], u["UploadId"]) for u in listed["Uploads"]] == list(ids.items())
    rolled = client.list_multipart_uploads(Bucket=name, Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["logs/"]
    assert [u["Key"] for u in rolled["Uploads"]] == ["top"]
    page = client.list_multipart_uploads(Bucket=name, MaxUploads=1)
    assert page["IsTruncated"] and page["NextKeyMarker"] == "logs/a"
    rest = client.list_multipart_uploads(
        Bucket=name, KeyMarker=page["NextKeyMarker"], UploadIdMarker=page["NextUploadIdMarker"]
    )
    assert [u["Key"] for u in rest["Uploads"]] == ["logs/b", "top"]

    client.abort_multipart_upload(Bucket=name, Key="logs/a", UploadId=ids["logs/a"])
    part = client.upload_part(
        Bucket=name, Key="top", UploadId=ids["top"], PartNumber=1, Body=b"tail"
    )
    client.complete_multipart_upload(
        Bucket=name,
        Key="top",
        UploadId=ids["top"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    left = client.list_multipart_uploads(Bucket=name)
    assert [u["Key"] for u in left.get("Uploads", [])] == ["logs/b"]


def test_conditional_writes(server: S3Server) -> None:
    client = s3(server)
    name = bucket(client, "boto-conditional")
    first = client.put_object(Bucket=name, Key="c", Body=b"one", IfNoneMatch="*")
    with pytest.raises(ClientError) as e:
        client.put_object(Bucket=name, Key="c", Body=b"two", IfNoneMatch="*")
    assert error_code(e) == "PreconditionFailed"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    second = client.put_object(Bucket=name, Key="c", Body=b"two!", IfMatch=first["ETag"])
    with pytest.raises(ClientError) as e:
        client.put_object(Bucket=name, Key="c", Body=b"three", IfMatch=first["ETag"])
    assert error_code(e) == "PreconditionFailed"
    assert client.get_object(Bucket=name, Key="c")["Body"].read() == b"two!"

    # A conditional multipart complete: refused while the object exists, the upload stays
    # open and completes with the current ETag.
    upload = client.create_multipart_upload(Bucket=name, Key="c")["UploadId"]
    part = client.upload_part(Bucket=name, Key="c", UploadId=upload, PartNumber=1, Body=b"mp")
    parts = {"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}
    with pytest.raises(ClientError) as e:
        client.complete_multipart_upload(
            Bucket=name, Key="c", UploadId=upload, MultipartUpload=parts, IfNoneMatch="*"
        )
    assert error_code(e) == "PreconditionFailed"
    client.complete_multipart_upload(
        Bucket=name, Key="c", UploadId=upload, MultipartUpload=parts, IfMatch=second["ETag"]
    )
    assert client.get_object(Bucket=name, Key="c")["Body"].read() == b"mp"

    current = client.head_object(Bucket=name, Key="c")["ETag"]
    with pytest.raises(ClientError) as e:
        client.delete_object(Bucket=name, Key="c", IfMatch=second["ETag"])
    assert error_code(e) == "PreconditionFailed"
    client.delete_object(Bucket=name, Key="c", IfMatch=current)
    with pytest.raises(ClientError) as e:
        client.head_object(Bucket=name, Key="c")


@pytest.mark.parametrize("size", [100, 3 * MiB])
def test_racing_conditional_writers(server: S3Server, size: int) -> None:
    client = s3(server)
    name = bucket(client, "boto-race")
    key = f"race-{size}"
    outcomes: dict[int, str] = {}

    def racer(i: int, **condition: str) -> None:
        body = bytes([i]) * (size + i)
        try:
            s3(server).put_object(Bucket=name, Key=key, Body=body, **condition)
            outcomes[i] = "won"
        except ClientError as e:
            outcomes[i] = e.response["Error"]["Code"]

    def race(first: int, **condition: str) -> list[int]:
        outcomes.clear()
        threads = [
            threading.Thread(target=racer, args=(i,), kwargs=condition)
            for i in range(first, first + 8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert set(outcomes.values()) <= {"won", "PreconditionFailed", "ConditionalRequestConflict"}
        return [i for i, o in outcomes.items() if o == "won"]

    winners = race(1, IfNoneMatch="*")
    assert len(winners) == 1, outcomes
    got = client.get_object(Bucket=name, Key=key)["Body"].read()
    assert got == bytes([winners[0]]) * (size + winners[0])
    etag = client.head_object(Bucket=name, Key=key)["ETag"]
    winners = race(20, IfMatch=etag)
    assert len(winners) == 1, outcomes


def test_cross_api(server: S3Server) -> None:
    client = s3(server)
    name = bucket(client, "boto-cross")
    client.put_object(Bucket=name, Key="org=1/via-s3", Body=b"s3 bytes", Metadata={"k": "v"})
    with urllib.request.urlopen(f"{server.native}/v1/objects/{name}/org=1/via-s3") as r:
        assert r.read() == b"s3 bytes"
        assert r.headers["x-snme-k"] == "v"
    request = urllib.request.Request(
        f"{server.native}/v1/objects/{name}/_/via-native",
        data=b"native bytes",
        method="PUT",
        headers={"x-snme-origin-api": "objectstore"},
    )
    with urllib.request.urlopen(request):
        pass
    got = client.get_object(Bucket=name, Key="via-native")
    assert got["Body"].read() == b"native bytes"
    assert got["Metadata"] == {"origin-api": "objectstore"}
    listed = [o["Key"] for o in client.list_objects_v2(Bucket=name)["Contents"]]
    assert listed == ["org=1/via-s3", "via-native"], "both APIs' objects are listed"
    # Deleted through the objectstore API: gone from S3 reads and listings.
    native_delete = urllib.request.Request(
        f"{server.native}/v1/objects/{name}/org=1/via-s3", method="DELETE"
    )
    with urllib.request.urlopen(native_delete):
        pass
    listed = [o["Key"] for o in client.list_objects_v2(Bucket=name)["Contents"]]
    assert listed == ["via-native"]
    with pytest.raises(ClientError) as e:
        client.head_object(Bucket=name, Key="org=1/via-s3")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    client.delete_object(Bucket=name, Key="via-native")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{server.native}/v1/objects/{name}/_/via-native")
    assert e.value.code == 404
