"""S3 credentials against the real binary: SigV4 headers and streaming trailers (boto3),
pre-signed URLs (SigV2, boto3's default for a custom endpoint in us-east-1, and SigV4),
and every refusal with its S3 code."""

from __future__ import annotations

import datetime
import os
import time
import urllib.error
import urllib.request

import botocore.auth
import pytest
from boto3.s3.transfer import TransferConfig
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from conftest import S3Server, TlsProxy, Unseekable, error_code, s3

MiB = 1024 * 1024


def ensure_bucket(server: S3Server, name: str) -> str:
    s3(server).create_bucket(Bucket=name)
    return name


def http_error(
    url: str, method: str = "GET", data: bytes | None = None, content_type: str | None = None
) -> tuple[int, str]:
    headers = {"Content-Type": content_type} if content_type else {}
    request = urllib.request.Request(url, method=method, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, ""
    except urllib.error.HTTPError as e:
        body = e.read().decode(errors="replace")
        code = body.split("<Code>")[1].split("</Code>")[0] if "<Code>" in body else ""
        return e.code, code


def test_signed_requests_work(signed_server: S3Server, signed_tls: TlsProxy) -> None:
    name = ensure_bucket(signed_server, "signed-bucket")
    client = s3(signed_server)
    client.put_object(Bucket=name, Key="a", Body=b"signed body")
    assert client.get_object(Bucket=name, Key="a")["Body"].read() == b"signed body"
    # Streaming uploads with checksum trailers, SigV4-signed headers.
    data = os.urandom(6 * MiB + 1)
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    s3(signed_server, tls=signed_tls).upload_fileobj(
        Unseekable(data), name, "streamed", Config=config
    )
    assert client.get_object(Bucket=name, Key="streamed")["Body"].read() == data


def test_refusals_have_their_codes(signed_server: S3Server) -> None:
    name = ensure_bucket(signed_server, "refusals")
    with pytest.raises(ClientError) as e:
        s3(signed_server, secret="wrong").get_object(Bucket=name, Key="a")
    assert error_code(e) == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as e:
        s3(signed_server, key="AKNOBODY", secret="x").put_object(Bucket=name, Key="a", Body=b"x")
    assert error_code(e) == "InvalidAccessKeyId"
    with pytest.raises(ClientError) as e:
        s3(signed_server, signature_version=UNSIGNED).put_object(Bucket=name, Key="a", Body=b"x")
    assert error_code(e) == "AccessDenied"
    status, code = http_error(f"{signed_server.endpoint}/")
    assert (status, code) == (403, "AccessDenied")


def test_clock_skew_is_refused(signed_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    name = ensure_bucket(signed_server, "skewed")
    skewed = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: skewed)
    with pytest.raises(ClientError) as e:
        s3(signed_server).put_object(Bucket=name, Key="a", Body=b"x")
    assert error_code(e) == "RequestTimeTooSkewed"


def test_permissions_and_usecases(signed_server: S3Server) -> None:
    name = ensure_bucket(signed_server, "perm-bucket")
    ensure_bucket(signed_server, "photos-only")
    s3(signed_server).put_object(Bucket=name, Key="a", Body=b"x")
    reader = s3(signed_server, key="AKREADER")
    assert reader.get_object(Bucket=name, Key="a")["Body"].read() == b"x"
    for call in [
        lambda: reader.put_object(Bucket=name, Key="b", Body=b"x"),
        lambda: reader.delete_object(Bucket=name, Key="a"),
        lambda: reader.create_bucket(Bucket="reader-made"),
    ]:
        with pytest.raises(ClientError) as e:
            call()
        assert error_code(e) == "AccessDenied"
    photos = s3(signed_server, key="AKPHOTOS")
    photos.put_object(Bucket="photos-only", Key="p", Body=b"x")
    with pytest.raises(ClientError) as e:
        photos.get_object(Bucket=name, Key="a")
    assert error_code(e) == "AccessDenied"
    assert [b["Name"] for b in photos.list_buckets()["Buckets"]] == ["photos-only"]


def test_presigned_sigv2_urls(signed_server: S3Server) -> None:
    name = ensure_bucket(signed_server, "presign-v2")
    client = s3(signed_server)
    client.put_object(Bucket=name, Key="shared", Body=b"shared bytes")
    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": name, "Key": "shared"}, ExpiresIn=300
    )
    assert "AWSAccessKeyId=AKFULL" in url and "Signature=" in url
    with urllib.request.urlopen(url) as response:
        assert response.read() == b"shared bytes"
    tampered = url.replace("Signature=", "Signature=AA")
    assert http_error(tampered) == (403, "SignatureDoesNotMatch")
    # SigV2 signs the Content-Type: the upload must send the one it was signed with.
    put_url = client.generate_presigned_url(
        "put_object",
        Params={"Bucket": name, "Key": "uploaded", "ContentType": "text/plain"},
        ExpiresIn=300,
    )
    status = http_error(put_url, method="PUT", data=b"via presigned PUT", content_type="text/plain")
    assert status[0] == 200, status
    assert client.get_object(Bucket=name, Key="uploaded")["Body"].read() == b"via presigned PUT"
    expired = client.generate_presigned_url(
        "get_object", Params={"Bucket": name, "Key": "shared"}, ExpiresIn=1
    )
    time.sleep(2)
    assert http_error(expired) == (403, "AccessDenied")


def test_presigned_sigv4_urls(signed_server: S3Server) -> None:
    name = ensure_bucket(signed_server, "presign-v4")
    client = s3(signed_server, signature_version="s3v4")
    client.put_object(Bucket=name, Key="shared", Body=b"v4 bytes")
    get_url = client.generate_presigned_url("get_object", Params={"Bucket": name, "Key": "shared"})
    assert "X-Amz-Signature=" in get_url
    with urllib.request.urlopen(get_url) as response:
        assert response.read() == b"v4 bytes"
    head_url = client.generate_presigned_url(
        "head_object", Params={"Bucket": name, "Key": "shared"}
    )
    assert http_error(head_url, method="HEAD")[0] == 200
    put_url = client.generate_presigned_url("put_object", Params={"Bucket": name, "Key": "new"})
    assert http_error(put_url, method="PUT", data=b"put via v4")[0] == 200
    assert client.get_object(Bucket=name, Key="new")["Body"].read() == b"put via v4"
    wrong = s3(signed_server, secret="wrong", signature_version="s3v4").generate_presigned_url(
        "get_object", Params={"Bucket": name, "Key": "shared"}
    )
    assert http_error(wrong) == (403, "SignatureDoesNotMatch")


def test_sigv2_header_signatures(signed_server: S3Server) -> None:
    name = ensure_bucket(signed_server, "sigv2-headers")
    client = s3(signed_server, signature_version="s3")
    client.put_object(Bucket=name, Key="v2", Body=b"signed with v2")
    assert client.get_object(Bucket=name, Key="v2")["Body"].read() == b"signed with v2"
    with pytest.raises(ClientError) as e:
        s3(signed_server, secret="wrong", signature_version="s3").get_object(Bucket=name, Key="v2")
    assert error_code(e) == "SignatureDoesNotMatch"
