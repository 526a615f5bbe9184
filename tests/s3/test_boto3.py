"""boto3 against the zero-config S3 listener: every phase-1 operation, the default checksum
behaviour of botocore >= 1.36 (CRC32 headers, aws-chunked trailers for unseekable streams),
and the operations that wait for phase 2 (answered NotImplemented)."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import urllib.error
import urllib.request

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from conftest import S3Server, TlsProxy, Unseekable, error_code, s3

MiB = 1024 * 1024


def bucket(client, name: str) -> str:
    client.create_bucket(Bucket=name)
    return name


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
    assert not (len(etag.strip('"')) == 32), "phase-1 ETags never look like an MD5"
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
    for kwargs in [{"CacheControl": "no-cache"}, {"ContentLanguage": "en"}]:
        with pytest.raises(ClientError) as e:
            client.put_object(Bucket=name, Key="refused", Body=b"x", **kwargs)
        assert error_code(e) == "NotImplemented", kwargs
    with pytest.raises(ClientError):
        client.head_object(Bucket=name, Key="refused")


def test_presigned_urls_work_without_credentials(server: S3Server) -> None:
    client = s3(server)
    name = bucket(client, "boto-presign")
    client.put_object(Bucket=name, Key="k", Body=b"shared")
    url = client.generate_presigned_url("get_object", Params={"Bucket": name, "Key": "k"})
    assert "AWSAccessKeyId=" in url, "boto3's default for a custom endpoint is SigV2"
    with urllib.request.urlopen(url) as response:
        assert response.read() == b"shared"


def test_phase_two_operations_are_not_implemented(server: S3Server) -> None:
    client = s3(server)
    name = bucket(client, "boto-later")
    for call in [
        lambda: client.list_objects_v2(Bucket=name),
        lambda: client.list_objects(Bucket=name),
        lambda: client.delete_bucket(Bucket=name),
        lambda: client.list_multipart_uploads(Bucket=name),
        lambda: client.put_object(Bucket=name, Key="c", Body=b"x", IfNoneMatch="*"),
    ]:
        with pytest.raises(ClientError) as e:
            call()
        assert error_code(e) == "NotImplemented"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501


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
    client.delete_object(Bucket=name, Key="via-native")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{server.native}/v1/objects/{name}/_/via-native")
    assert e.value.code == 404
