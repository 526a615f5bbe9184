"""Resumable uploads (docs/http-api.md §10).

Client 0.2.10 uses them automatically from `Session.put` when the payload size is
known and at least `resumable_threshold_bytes` (default 256 MiB; set per `Usecase`
or per `put`). The low-level calls are `Session._create_upload` (returns None when
the server declines with 501), `Session._resume_upload`, and on the handle `put`,
`progress` and `cancel`.

A server may decline resumable uploads entirely (501 on creation, docs/http-api.md §10.3);
`put` then falls back to a regular upload. The low-level tests skip, with that
reason, when creation is declined. The request-classification tests at the end
(docs/http-api.md §10.2) apply to every server.
"""

from __future__ import annotations

import io
import tempfile
from datetime import timedelta
from unittest.mock import Mock
from urllib.parse import urlencode

import pytest
from objectstore_client import Session, TimeToLive
from objectstore_client._resumable import (
    ResumableUpload,
    ResumableUploadUnavailable,
    UploadComplete,
    UploadIncomplete,
    UploadOffsetMismatch,
)
from objectstore_client.errors import RequestError

from support import (
    MIB,
    USECASE,
    assert_metadata,
    is_canonical_base64url,
    object_path,
    random_bytes,
    raw_request,
    read,
    stored_metadata,
    zstd_encode,
)


def spy_create(session: Session, monkeypatch: pytest.MonkeyPatch) -> Mock:
    spy = Mock(wraps=session._create_upload)
    monkeypatch.setattr(session, "_create_upload", spy)
    return spy


def create_or_skip(session: Session, length: int, **kwargs) -> ResumableUpload:
    upload = session._create_upload(length, **kwargs)
    if upload is None:
        pytest.skip("server declines resumable uploads with 501 (allowed, docs/http-api.md §10.3)")
    return upload


def started(session: Session, key: str) -> ResumableUpload:
    """A 6-byte upload of `key` whose first 3 bytes (`abc`) arrived."""
    upload = create_or_skip(session, 6, key=key)
    assert upload.put(0, b"abc") == UploadIncomplete(3)
    return upload


def finish(session: Session, upload: ResumableUpload, offset: int, data: bytes, whole: bytes):
    """Sends the last chunk: the upload completes and its key reads back as `whole`."""
    assert upload.put(offset, data) == UploadComplete()
    assert read(session, upload.key) == whole


def still_at_3(session: Session, upload: ResumableUpload) -> None:
    """After refused chunks, an upload from `started` still stands at 3 bytes, and `def`
    completes it."""
    assert upload.progress() == UploadIncomplete(3)
    finish(session, upload, 3, b"def", b"abcdef")


# -- Session.put through the resumable path ------------------------------------------


@pytest.mark.parametrize("compress", ["none", "zstd"])
def test_put_above_threshold_goes_through_resumable_path(
    session: Session, monkeypatch: pytest.MonkeyPatch, compress: str
) -> None:
    spy = spy_create(session, monkeypatch)
    payload = b"resumable payload line\n" * 2000
    custom = {"source": "resumable", "note": "100% done"}
    policy = TimeToLive(timedelta(days=1))
    fields = {"content_type": "text/plain", "origin": "Ünknown-源", "filename": "réport-📄.pdf"}
    key = session.put(
        payload,
        key=f"resumable-{compress}",
        compress=compress,
        metadata=custom,
        expiration_policy=policy,
        resumable_threshold_bytes=1024,
        **fields,
    )
    assert key == f"resumable-{compress}"
    assert spy.call_count == 1
    uploaded_length = spy.call_args.args[0]
    if compress == "none":
        assert uploaded_length == len(payload)
    else:
        assert uploaded_length < len(payload)

    for metadata in stored_metadata(session, key, payload):
        assert_metadata(metadata, custom=custom, expiration_policy=policy, **fields)
    head = session.head(key)
    assert head is not None
    assert head.compression == (None if compress == "none" else "zstd")


def test_put_below_threshold_is_a_regular_upload(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = spy_create(session, monkeypatch)
    session.put(b"small", key="below-threshold", resumable_threshold_bytes=1024)
    assert spy.call_count == 0
    assert read(session, "below-threshold") == b"small"


def test_usecase_threshold_and_generated_key(
    client, scope_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from objectstore_client import Usecase

    session = client.session(
        Usecase(USECASE, compression="none", resumable_threshold_bytes=0), org=42, test=scope_id
    )
    spy = spy_create(session, monkeypatch)
    key = session.put(b"generated through resumable")
    assert spy.call_count == 1
    assert key
    assert read(session, key) == b"generated through resumable"


@pytest.mark.large
def test_put_large_through_resumable_path(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = spy_create(session, monkeypatch)
    payload = random_bytes(3 * MIB, seed=3)
    key = session.put(payload, key="resumable-large", compress="none", resumable_threshold_bytes=MIB)
    assert spy.call_count == 1
    assert read(session, key) == payload


def test_put_file_through_resumable_path(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = spy_create(session, monkeypatch)
    payload = b"file contents\n" * 500
    with tempfile.TemporaryFile() as handle:
        handle.write(b"skip this prefix" + payload)
        handle.seek(len(b"skip this prefix"))
        key = session.put(handle, key="resumable-file", resumable_threshold_bytes=1)
        assert not handle.closed
    assert spy.call_count == 1
    assert read(session, key) == payload


def test_put_empty_payload_with_zero_threshold(session: Session) -> None:
    # Upload-Length 0: the server should decline (501) so the client falls back; an
    # accepted zero-length session must still let the client finish the upload.
    key = session.put(b"", key="resumable-empty", compress="none", resumable_threshold_bytes=0)
    assert key == "resumable-empty"
    assert read(session, key) == b""


def test_put_resumable_overwrites_existing(session: Session) -> None:
    session.put(b"old", key="resumable-overwrite", metadata={"v": "old"})
    session.put(
        b"new payload" * 100,
        key="resumable-overwrite",
        metadata={"v": "new"},
        resumable_threshold_bytes=1,
    )
    result = session.get("resumable-overwrite")
    assert result is not None
    assert result.payload.read() == b"new payload" * 100
    assert result.metadata.custom == {"v": "new"}


# -- low-level session operations -----------------------------------------------------


def test_chunks_offsets_and_completion(session: Session) -> None:
    policy = TimeToLive(timedelta(days=1))
    fields = {"content_type": "text/plain", "origin": "203.0.113.42", "filename": "example.txt"}
    upload = create_or_skip(
        session,
        6,
        key="resumable-low-level",
        metadata={"source": "test"},
        expiration_policy=policy,
        **fields,
    )
    assert upload.key == "resumable-low-level"
    assert upload.granularity == 0
    assert is_canonical_base64url(upload.token), upload.token

    assert upload.progress() == UploadIncomplete(0)
    assert upload.put(0, b"abc") == UploadIncomplete(3)
    # Not visible before the last byte arrives.
    assert session.get("resumable-low-level") is None

    resumed = session._resume_upload(upload.key, upload.token)
    assert resumed.progress() == UploadIncomplete(3)
    stream = io.BytesIO(b"prefix-def")
    stream.seek(7)
    assert resumed.put(3, (stream, 3)) == UploadComplete()

    result = session.get("resumable-low-level")
    assert result is not None
    assert result.payload.read() == b"abcdef"
    # Creation did not send Content-Encoding, so nothing is recorded.
    assert result.metadata.compression is None
    assert_metadata(
        result.metadata, custom={"source": "test"}, expiration_policy=policy, **fields
    )
    assert result.metadata.time_created is not None
    assert result.metadata.time_expires == result.metadata.time_created + timedelta(days=1)


def test_offset_mismatch(session: Session) -> None:
    upload = started(session, "resumable-mismatch")
    with pytest.raises(UploadOffsetMismatch) as mismatch:
        upload.put(0, b"abc")
    assert mismatch.value.status == 409
    assert mismatch.value.offset == 3
    with pytest.raises(UploadOffsetMismatch) as ahead:
        upload.put(5, b"f")
    assert ahead.value.offset == 3
    still_at_3(session, upload)


def test_overlong_chunk_is_rejected_and_session_survives(session: Session) -> None:
    upload = started(session, "resumable-overlong")
    with pytest.raises(RequestError) as error:
        upload.put(3, b"defg")
    assert error.value.status == 400
    still_at_3(session, upload)


def test_zero_length_chunk_reports_offset(session: Session) -> None:
    upload = create_or_skip(session, 4, key="resumable-zero-chunk")
    assert upload.put(0, b"") == UploadIncomplete(0)
    assert upload.put(0, b"ab") == UploadIncomplete(2)
    assert upload.put(2, b"") == UploadIncomplete(2)
    finish(session, upload, 2, b"cd", b"abcd")


def test_completion_replaces_existing_object(session: Session) -> None:
    session.put(b"previous", key="resumable-replace", metadata={"v": "previous"})
    upload = create_or_skip(session, 5, key="resumable-replace", metadata={"v": "next"})
    assert upload.put(0, b"ne") == UploadIncomplete(2)
    assert read(session, "resumable-replace") == b"previous"
    finish(session, upload, 2, b"xt!", b"next!")
    assert_metadata(session.get("resumable-replace").metadata, custom={"v": "next"})


def test_session_unavailable_after_completion(session: Session) -> None:
    upload = create_or_skip(session, 3, key="resumable-done")
    assert upload.put(0, b"xyz") == UploadComplete()
    with pytest.raises(ResumableUploadUnavailable) as error:
        upload.progress()
    assert error.value.status in (404, 410)
    with pytest.raises(RequestError):
        upload.put(3, b"more")
    assert read(session, "resumable-done") == b"xyz"


def test_cancel(session: Session) -> None:
    upload = started(session, "resumable-cancel")
    upload.cancel()
    with pytest.raises(ResumableUploadUnavailable) as error:
        upload.progress()
    assert error.value.status in (404, 410)
    with pytest.raises(ResumableUploadUnavailable):
        upload.put(3, b"def")
    with pytest.raises(ResumableUploadUnavailable):
        upload.cancel()
    assert session.get("resumable-cancel") is None


def test_cancel_keeps_existing_object(session: Session) -> None:
    session.put(b"keep me", key="resumable-cancel-existing")
    upload = started(session, "resumable-cancel-existing")
    upload.cancel()
    assert read(session, "resumable-cancel-existing") == b"keep me"


def test_generated_key(session: Session) -> None:
    upload = create_or_skip(session, 4)
    assert upload.key
    finish(session, upload, 0, b"gen!", b"gen!")


def test_precompressed_chunks(session: Session) -> None:
    payload = b"abcdef" * 100
    compressed = zstd_encode(payload)
    upload = create_or_skip(session, len(compressed), compression="zstd")
    split = len(compressed) // 2
    assert upload.put(0, compressed[:split]) == UploadIncomplete(split)
    assert upload.put(split, compressed[split:]) == UploadComplete()
    raw = session.get(upload.key, decompress=False)
    assert raw is not None
    assert raw.metadata.compression == "zstd"
    assert raw.payload.read() == compressed
    assert read(session, upload.key) == payload


def test_two_sessions_last_completion_wins(session: Session) -> None:
    first = create_or_skip(session, 5, key="resumable-race")
    second = create_or_skip(session, 6, key="resumable-race")
    assert first.token != second.token
    assert first.put(0, b"ab") == UploadIncomplete(2)
    finish(session, second, 0, b"second", b"second")
    finish(session, first, 2, b"cde", b"abcde")


def test_token_is_bound_to_its_key(session: Session) -> None:
    upload = create_or_skip(session, 3, key="resumable-bound")
    foreign = session._resume_upload("some-other-key", upload.token)
    with pytest.raises(RequestError) as error:
        foreign.put(0, b"abc")
    assert error.value.status in (400, 404, 410)
    assert session.get("some-other-key") is None
    assert upload.progress() == UploadIncomplete(0)
    upload.cancel()


@pytest.mark.large
def test_large_chunks(session: Session) -> None:
    payload = random_bytes(3 * MIB, seed=9)
    upload = create_or_skip(session, len(payload), key="resumable-large-chunks")
    assert upload.put(0, payload[:MIB]) == UploadIncomplete(MIB)
    finish(session, upload, MIB, payload[MIB:], payload)


# -- request classification, required even without resumable support (docs/http-api.md §10.2) --


def test_creation_does_not_store_an_object(
    raw_session: Session, server_url: str, scopes: str
) -> None:
    raw_session.put(b"existing object", key="classify-create")
    path = object_path(USECASE, scopes, "classify-create")
    response = raw_request(
        server_url, "PUT", f"{path}?upload_type=resumable", headers={"Upload-Length": "5"}, body=b""
    )
    assert response.status in (200, 501), (response.status, response.body)
    # Creation never touches the object.
    assert raw_session.get("classify-create").payload.read() == b"existing object"  # type: ignore[union-attr]
    if response.status == 200:
        body = response.json()
        assert body["key"] == "classify-create"
        assert is_canonical_base64url(body["session"])
        assert body.get("granularity", 0) == 0
        cancel = raw_request(server_url, "DELETE", f"{path}?{urlencode({'session': body['session']})}")
        assert cancel.status == 204


def test_creation_without_key(raw_session: Session, server_url: str, scopes: str) -> None:
    path = object_path(USECASE, scopes, "")
    response = raw_request(
        server_url, "POST", f"{path}?upload_type=resumable", headers={"Upload-Length": "3"}, body=b""
    )
    assert response.status in (200, 501), (response.status, response.body)
    if response.status == 200:
        body = response.json()
        assert body["key"]
        assert raw_session.get(body["key"]) is None


def untouched(raw_session: Session, scopes: str, key: str) -> str:
    """Stores `untouched` under `key`; its path, for a request that must leave it alone."""
    raw_session.put(b"untouched", key=key)
    return object_path(USECASE, scopes, key)


def test_unknown_upload_type_is_rejected(raw_session: Session, server_url: str, scopes: str) -> None:
    path = untouched(raw_session, scopes, "classify-bad-type")
    response = raw_request(server_url, "PUT", f"{path}?upload_type=bogus", body=b"clobber")
    assert response.status == 400
    assert read(raw_session, "classify-bad-type") == b"untouched"


def test_unknown_session_chunk_does_not_overwrite(
    raw_session: Session, server_url: str, scopes: str
) -> None:
    path = untouched(raw_session, scopes, "classify-chunk")
    target = f"{path}?session=AAAAAAAAAAAAAAAAAAAAAA"
    headers = {"Upload-Offset": "0"}
    response = raw_request(server_url, "PUT", target, headers=headers, body=b"clobber")
    assert response.status in (400, 404, 410, 501), (response.status, response.body)
    assert read(raw_session, "classify-chunk") == b"untouched"


def test_unknown_session_cancel_does_not_delete(
    raw_session: Session, server_url: str, scopes: str
) -> None:
    path = untouched(raw_session, scopes, "classify-cancel")
    response = raw_request(server_url, "DELETE", f"{path}?session=AAAAAAAAAAAAAAAAAAAAAA")
    assert response.status in (400, 404, 410, 501), (response.status, response.body)
    assert read(raw_session, "classify-cancel") == b"untouched"


def test_get_with_resumable_parameters_is_a_plain_read(
    raw_session: Session, server_url: str, scopes: str
) -> None:
    raw_session.put(b"plain read", key="classify-get")
    path = object_path(USECASE, scopes, "classify-get")
    for query in ("upload_type=resumable", "session=AAAA"):
        response = raw_request(server_url, "GET", f"{path}?{query}")
        assert response.status == 200
        assert response.body == b"plain read"


def test_other_query_parameters_are_ignored(
    raw_session: Session, server_url: str, scopes: str
) -> None:
    path = object_path(USECASE, scopes, "classify-other")
    response = raw_request(server_url, "PUT", f"{path}?foo=bar&os_kid=x", body=b"stored")
    assert response.status == 200
    assert response.json() == {"key": "classify-other"}
    assert read(raw_session, "classify-other") == b"stored"
