"""put / get / head / delete through the official client, against both storage kinds.

Covers compression (zstd default, `compress="none"`, `precompressed`, the deprecated
`compression=` argument), content type, origin, filename, custom metadata, expiration
policies as echoed by the server, overwrites, missing keys and server-generated keys.
"""

from __future__ import annotations

import io
import tempfile
import time
from datetime import timedelta

import pytest
from objectstore_client import Client, Session, TimeToIdle, TimeToLive, Usecase
from objectstore_client.errors import RequestError

from support import (
    USECASE,
    ZSTD_MAGIC,
    NonSeekableReader,
    assert_between,
    assert_metadata,
    read,
    stored_metadata,
    utcnow,
    zstd_decode,
    zstd_encode,
)

PAYLOAD = b"objectstore python compatibility payload\n" * 64


# -- compression ----------------------------------------------------------------------


def test_put_get_default_zstd(session: Session) -> None:
    key = session.put(PAYLOAD, key="zstd-default")
    assert key == "zstd-default"

    result = session.get(key)
    assert result is not None
    assert result.payload.read() == PAYLOAD
    # The client decoded the stream and says so.
    assert result.metadata.compression is None

    head = session.head(key)
    assert head is not None
    assert head.compression == "zstd"

    raw = session.get(key, decompress=False)
    assert raw is not None
    assert raw.metadata.compression == "zstd"
    stored = raw.payload.read()
    assert stored.startswith(ZSTD_MAGIC)
    assert stored != PAYLOAD
    assert zstd_decode(stored) == PAYLOAD
    if head.size is not None:  # x-sn-size is optional; when sent it is the stored size
        assert head.size == len(stored)


def test_accept_encoding_zstd_returns_stored_bytes(session: Session) -> None:
    session.put(PAYLOAD, key="accept-zstd")
    result = session.get("accept-zstd", accept_encoding=["zstd"])
    assert result is not None
    assert result.metadata.compression == "zstd"
    assert zstd_decode(result.payload.read()) == PAYLOAD


def test_put_uncompressed_is_stored_verbatim(session: Session) -> None:
    key = session.put(PAYLOAD, key="uncompressed", compress="none")
    assert key == "uncompressed"

    head = session.head(key)
    assert head is not None
    assert head.compression is None
    if head.size is not None:
        assert head.size == len(PAYLOAD)

    raw = session.get(key, decompress=False)
    assert raw is not None
    assert raw.metadata.compression is None
    assert raw.payload.read() == PAYLOAD
    assert read(session, key) == PAYLOAD


def test_usecase_compression_none(raw_session: Session) -> None:
    raw_session.put(PAYLOAD, key="usecase-none")
    head = raw_session.head("usecase-none")
    assert head is not None
    assert head.compression is None
    assert read(raw_session, "usecase-none", decompress=False) == PAYLOAD


def test_deprecated_compression_argument(session: Session) -> None:
    with pytest.deprecated_call():
        key = session.put(PAYLOAD, key="deprecated-none", compression="none")
    head = session.head(key)
    assert head is not None
    assert head.compression is None
    assert read(session, key, decompress=False) == PAYLOAD


def test_precompressed_zstd_is_stored_verbatim(session: Session) -> None:
    compressed = zstd_encode(PAYLOAD)
    key = session.put(compressed, key="precompressed", precompressed="zstd")

    raw = session.get(key, decompress=False)
    assert raw is not None
    assert raw.metadata.compression == "zstd"
    assert raw.payload.read() == compressed

    assert read(session, key) == PAYLOAD


def test_multi_frame_zstd_is_decoded_across_frames(session: Session) -> None:
    first, second = b"first frame|" * 50, b"second frame|" * 50
    key = session.put(
        zstd_encode(first) + zstd_encode(second), key="multi-frame", precompressed="zstd"
    )
    assert read(session, key) == first + second


@pytest.mark.parametrize("compress", ["zstd", "none"])
def test_empty_payload(session: Session, compress: str) -> None:
    key = session.put(b"", key=f"empty-{compress}", compress=compress)
    assert read(session, key) == b""
    head = session.head(key)
    assert head is not None
    assert head.compression == (None if compress == "none" else "zstd")


@pytest.mark.parametrize("compress", ["zstd", "none"])
@pytest.mark.parametrize("kind", ["bytesio", "file", "non-seekable"])
def test_stream_inputs(session: Session, kind: str, compress: str) -> None:
    payload = PAYLOAD * 3
    key = f"stream-{kind}-{compress}"
    if kind == "bytesio":
        stored_key = session.put(io.BytesIO(payload), key=key, compress=compress)
    elif kind == "non-seekable":
        stored_key = session.put(NonSeekableReader(payload), key=key, compress=compress)
    else:
        with tempfile.TemporaryFile() as handle:
            handle.write(b"skipped prefix" + payload)
            handle.seek(len(b"skipped prefix"))
            stored_key = session.put(handle, key=key, compress=compress)
    assert stored_key == key
    assert read(session, key) == payload


# -- metadata -------------------------------------------------------------------------


def test_default_content_type(session: Session) -> None:
    session.put(b"data", key="default-ct")
    head = session.head("default-ct")
    assert head is not None
    assert head.content_type == "application/octet-stream"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/json", "text/plain; charset=utf-8"]
)
def test_content_type_roundtrip(session: Session, content_type: str) -> None:
    session.put(b"data", key="ct", content_type=content_type)
    head = session.head("ct")
    assert head is not None
    assert head.content_type == content_type
    result = session.get("ct")
    assert result is not None
    assert result.metadata.content_type == content_type
    assert result.payload.read() == b"data"


def test_origin_filename_custom_metadata(session: Session) -> None:
    custom = {"foo": "bar", "my-key": "my value", "build": "1234"}
    fields = {"content_type": "application/pdf", "origin": "203.0.113.42", "filename": "report.pdf"}
    key = session.put(PAYLOAD, key="with-metadata", metadata=custom, **fields)
    for metadata in stored_metadata(session, key, PAYLOAD):
        assert_metadata(metadata, custom=custom, expiration_policy=None, time_expires=None, **fields)


def test_no_optional_metadata_when_not_set(session: Session) -> None:
    session.put(b"bare", key="bare")
    head = session.head("bare")
    assert head is not None
    assert head.origin is None
    assert head.filename is None
    assert head.custom == {}
    assert head.expiration_policy is None
    assert head.time_expires is None
    assert head.time_created is not None


def test_custom_metadata_names_are_lowercased(session: Session) -> None:
    # Header names are case-insensitive, so names come back lowercase (docs/http-api.md §6.2).
    session.put(b"x", key="camel", metadata={"CamelCase": "Value-Stays"})
    head = session.head("camel")
    assert head is not None
    assert head.custom == {"camelcase": "Value-Stays"}


def test_unicode_metadata_roundtrip(session: Session) -> None:
    # docs/http-api.md §6.3: free-form values are percent-escaped on the wire and must come back.
    custom = {"release": "vérsion-1.0-🚀", "note": "100% done"}
    key = session.put(
        b"unicode", origin="Ünknown-源", filename="réport-📄.pdf", metadata=custom
    )
    result = session.get(key)
    assert result is not None
    assert result.payload.read() == b"unicode"
    for metadata in (result.metadata, session.head(key)):
        assert metadata is not None
        assert metadata.origin == "Ünknown-源"
        assert metadata.filename == "réport-📄.pdf"
        assert metadata.custom == custom


def test_ascii_punctuation_and_control_characters_in_metadata(session: Session) -> None:
    punctuation = "has\"quote path/to.txt!$&'()*+,;=:@?<>[]{}|^~#"
    controls = "a\r\nb\tc\x7f"
    percent = "50%41 and %zz and 100%"
    key = session.put(
        b"x",
        filename=punctuation,
        origin=percent,
        metadata={"punct": punctuation, "ctrl": controls, "pct": percent},
    )
    head = session.head(key)
    assert head is not None
    assert head.filename == punctuation
    assert head.origin == percent
    assert head.custom == {"punct": punctuation, "ctrl": controls, "pct": percent}


def test_filename_with_control_characters(session: Session) -> None:
    # The stored filename must not break the response headers (Content-Disposition
    # is derived from it, docs/http-api.md §6.8); x-sn-filename carries it escaped.
    filename = "line1\r\nline2\t.txt"
    key = session.put(b"ctl", filename=filename)
    result = session.get(key)
    assert result is not None
    assert result.payload.read() == b"ctl"
    assert result.metadata.filename == filename
    head = session.head(key)
    assert head is not None
    assert head.filename == filename


# -- expiration policies --------------------------------------------------------------

POLICIES = [
    pytest.param(TimeToLive(timedelta(days=1)), id="ttl-1d"),
    pytest.param(TimeToLive(timedelta(seconds=30)), id="ttl-30s"),
    pytest.param(TimeToLive(timedelta(hours=1, minutes=30)), id="ttl-1h30m"),
    pytest.param(TimeToLive(timedelta(days=2, hours=3, seconds=4)), id="ttl-2d3h4s"),
    pytest.param(TimeToLive(timedelta(days=400, seconds=4711)), id="ttl-400d1h18m31s"),
    pytest.param(TimeToIdle(timedelta(hours=1)), id="tti-1h"),
    pytest.param(TimeToIdle(timedelta(days=7)), id="tti-7d"),
]


@pytest.mark.parametrize("policy", POLICIES)
def test_expiration_policy_echo_and_deadline(
    session: Session, policy: TimeToLive | TimeToIdle
) -> None:
    before = utcnow()
    key = session.put(PAYLOAD, expiration_policy=policy)
    after = utcnow()

    head = session.head(key)
    assert head is not None
    assert head.expiration_policy == policy
    assert_between(head.time_created, before, after, "time_created")
    assert head.time_created is not None
    assert head.time_expires == head.time_created + policy.delta

    result = session.get(key)
    assert result is not None
    assert result.metadata.expiration_policy == policy
    assert result.payload.read() == PAYLOAD


def test_usecase_default_expiration_policy(client: Client, scope_id: str) -> None:
    default = TimeToLive(timedelta(days=3))
    session = client.session(
        Usecase(USECASE, expiration_policy=default), org=42, test=scope_id
    )
    session.put(b"a", key="default-policy")
    head = session.head("default-policy")
    assert head is not None
    assert head.expiration_policy == default
    assert head.time_created is not None
    assert head.time_expires == head.time_created + timedelta(days=3)

    override = TimeToIdle(timedelta(hours=2))
    session.put(b"b", key="override-policy", expiration_policy=override)
    head = session.head("override-policy")
    assert head is not None
    assert head.expiration_policy == override


def test_manual_policy_has_no_deadline(session: Session) -> None:
    before = utcnow()
    session.put(b"keep", key="manual")
    after = utcnow()
    head = session.head("manual")
    assert head is not None
    assert head.expiration_policy is None
    assert head.time_expires is None
    assert_between(head.time_created, before, after, "time_created")


# -- overwrite, delete, missing -------------------------------------------------------


def test_overwrite_replaces_payload_and_metadata(session: Session) -> None:
    session.put(
        b"first version",
        key="overwritten",
        content_type="text/plain",
        origin="198.51.100.1",
        filename="first.txt",
        metadata={"version": "1", "only-first": "yes"},
        expiration_policy=TimeToLive(timedelta(days=1)),
    )
    first = session.head("overwritten")
    assert first is not None and first.time_created is not None

    time.sleep(1.1)
    key = session.put(b"second", key="overwritten", compress="none", metadata={"version": "2"})
    assert key == "overwritten"

    result = session.get("overwritten")
    assert result is not None
    assert result.payload.read() == b"second"
    metadata = result.metadata
    assert metadata.compression is None
    assert metadata.content_type == "application/octet-stream"
    assert metadata.origin is None
    assert metadata.filename is None
    assert metadata.custom == {"version": "2"}
    assert metadata.expiration_policy is None
    assert metadata.time_expires is None
    assert metadata.time_created is not None
    assert metadata.time_created > first.time_created


def test_get_and_head_missing_return_none(session: Session) -> None:
    assert session.get("does-not-exist") is None
    assert session.head("does-not-exist") is None


def test_delete_missing_succeeds(session: Session) -> None:
    session.delete("never-existed")
    session.delete("never-existed")
    assert session.get("never-existed") is None


def test_delete_removes_object(session: Session) -> None:
    session.put(PAYLOAD, key="to-delete")
    assert session.head("to-delete") is not None
    session.delete("to-delete")
    assert session.get("to-delete") is None
    assert session.head("to-delete") is None
    session.delete("to-delete")  # second delete of the same key is fine too


def test_put_after_delete(session: Session) -> None:
    session.put(b"one", key="recreated")
    session.delete("recreated")
    session.put(b"two", key="recreated")
    assert read(session, "recreated") == b"two"


# -- server-generated keys ------------------------------------------------------------


def test_server_generated_keys(session: Session) -> None:
    first = session.put(b"generated one")
    second = session.put(b"generated two", compress="none")
    assert isinstance(first, str) and first
    assert isinstance(second, str) and second
    assert first != second
    assert read(session, first) == b"generated one"
    assert read(session, second) == b"generated two"
    head = session.head(first)
    assert head is not None and head.compression == "zstd"
    session.delete(first)
    assert session.get(first) is None
    assert read(session, second) == b"generated two"


def test_empty_key_means_server_generated(session: Session) -> None:
    key = session.put(b"empty key argument", key="")
    assert key
    assert read(session, key) == b"empty key argument"


def test_server_generated_key_with_metadata(session: Session) -> None:
    key = session.put(
        b"meta", content_type="text/csv", filename="data.csv", metadata={"k": "v"}
    )
    head = session.head(key)
    assert head is not None
    assert head.content_type == "text/csv"
    assert head.filename == "data.csv"
    assert head.custom == {"k": "v"}


# -- request errors surface as RequestError -------------------------------------------


def test_invalid_content_type_is_rejected(session: Session) -> None:
    with pytest.raises(RequestError) as error:
        session.put(b"x", key="bad-ct", content_type="not a media type")
    assert error.value.status == 400
    assert session.get("bad-ct") is None
