"""Multipart uploads through the official client (docs/http-api.md §9, §16)."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from objectstore_client import Client, Session, TimeToLive, Usecase
from objectstore_client.errors import RequestError
from objectstore_client.multipart import CompletePart, MultipartCompleteError

from support import (
    MIB,
    USECASE,
    NonSeekableReader,
    assert_between,
    assert_metadata,
    make_client,
    object_path,
    random_bytes,
    raw_request,
    read,
    stored_metadata,
    utcnow,
    zstd_encode,
)


def put(upload, data: bytes, number: int) -> CompletePart:
    return upload.put_part(data, part_number=number, content_length=len(data))


def test_full_cycle_with_key(raw_session: Session) -> None:
    upload = raw_session.initiate_multipart_upload(key="mp-basic")
    assert upload.key == "mp-basic"
    assert isinstance(upload.upload_id, str) and upload.upload_id

    part1 = put(upload, b"hello ", 1)
    part2 = put(upload, b"world!", 2)
    assert part1.part_number == 1 and part1.etag
    assert part2.part_number == 2 and part2.etag

    # Not visible before completion.
    assert raw_session.get("mp-basic") is None

    assert upload.complete([part2, part1]) == "mp-basic"
    assert read(raw_session, "mp-basic") == b"hello world!"
    head = raw_session.head("mp-basic")
    assert head is not None
    assert head.compression is None
    if head.size is not None:
        assert head.size == 12


def test_server_generated_key(raw_session: Session) -> None:
    upload = raw_session.initiate_multipart_upload()
    assert upload.key
    part = put(upload, b"generated", 1)
    final = upload.complete([part])
    assert final == upload.key
    assert read(raw_session, final) == b"generated"


def test_empty_key_means_server_generated(raw_session: Session) -> None:
    upload = raw_session.initiate_multipart_upload(key="")
    assert upload.key
    assert upload.complete([put(upload, b"x", 1)]) == upload.key
    assert read(raw_session, upload.key) == b"x"


def test_default_compression_is_recorded(session: Session) -> None:
    # The usecase default is zstd: initiate records `Content-Encoding: zstd`, and the
    # caller must compress each part; the object is the concatenation of the frames.
    upload = session.initiate_multipart_upload(key="mp-zstd")
    first, second = zstd_encode(b"hello "), zstd_encode(b"world!")
    parts = [put(upload, first, 1), put(upload, second, 2)]
    upload.complete(parts)

    raw = session.get("mp-zstd", decompress=False)
    assert raw is not None
    assert raw.metadata.compression == "zstd"
    assert raw.payload.read() == first + second
    assert read(session, "mp-zstd") == b"hello world!"


def test_explicit_compression_none(session: Session) -> None:
    upload = session.initiate_multipart_upload(key="mp-none", compression="none")
    upload.complete([put(upload, b"plain", 1)])
    head = session.head("mp-none")
    assert head is not None
    assert head.compression is None
    assert read(session, "mp-none") == b"plain"


def test_metadata_is_fixed_at_initiation(raw_session: Session) -> None:
    custom = {"my-key": "my-value", "note": "100% done"}
    policy = TimeToLive(timedelta(days=1))
    fields = {"content_type": "text/plain", "origin": "Ünknown-源", "filename": "réport-📄.pdf"}
    before = utcnow()
    upload = raw_session.initiate_multipart_upload(
        key="mp-metadata", metadata=custom, expiration_policy=policy, **fields
    )
    after = utcnow()
    upload.complete([put(upload, b"payload", 1)])

    for metadata in stored_metadata(raw_session, "mp-metadata", b"payload"):
        assert_metadata(metadata, custom=custom, expiration_policy=policy, **fields)
        assert_between(metadata.time_created, before, after, "time_created")
        assert metadata.time_created is not None
        assert metadata.time_expires == metadata.time_created + timedelta(days=1)


def test_list_parts(raw_session: Session) -> None:
    upload = raw_session.initiate_multipart_upload(key="mp-list")
    assert upload.list_parts() == []
    before = utcnow()
    p2 = put(upload, b"part-two!", 2)
    p1 = put(upload, b"part-one", 1)
    after = utcnow()

    parts = upload.list_parts()
    assert [p.part_number for p in parts] == [1, 2]
    assert [p.size for p in parts] == [8, 9]
    assert [p.etag for p in parts] == [p1.etag, p2.etag]
    for part in parts:
        assert_between(part.last_modified, before, after, "last_modified")

    # PartInfo objects are accepted by complete().
    assert upload.complete(parts) == "mp-list"
    assert read(raw_session, "mp-list") == b"part-onepart-two!"


def test_list_parts_pagination_raw(raw_session: Session, server_url: str, scopes: str) -> None:
    upload = raw_session.initiate_multipart_upload(key="mp-pages")
    for number in range(1, 26):
        put(upload, f"part-{number:02d}".encode(), number)

    path = object_path(USECASE, scopes, "mp-pages", resource="objects:multipart:parts")
    seen: list[int] = []
    marker = None
    pages = []
    while True:
        params = {"upload_id": upload.upload_id, "max_parts": "10"}
        if marker is not None:
            params["part_number_marker"] = str(marker)
        response = raw_request(server_url, "GET", f"{path}?{urlencode(params)}")
        assert response.status == 200, response.body
        page = response.json()
        pages.append(page)
        numbers = [p["part_number"] for p in page["parts"]]
        assert numbers == sorted(numbers)
        assert len(numbers) <= 10
        seen += numbers
        if not page["is_truncated"]:
            assert page.get("next_part_number_marker") is None
            break
        marker = page["next_part_number_marker"]
        assert marker == numbers[-1]
        assert len(pages) < 10, "pagination does not terminate"
    assert seen == list(range(1, 26))
    assert [len(p["parts"]) for p in pages] == [10, 10, 5]
    for part in pages[0]["parts"]:
        assert part["size"] == 7
        assert isinstance(part["etag"], str) and part["etag"]
        assert part["last_modified"].endswith("Z")

    # The client follows next_part_number_marker on its own.
    listed = upload.list_parts()
    assert [p.part_number for p in listed] == list(range(1, 26))
    upload.complete(listed)
    assert read(raw_session, "mp-pages") == b"".join(
        f"part-{n:02d}".encode() for n in range(1, 26)
    )


@pytest.mark.large
def test_many_parts_listed_by_client(server_url: str, scope_id: str) -> None:
    # More parts than a typical default page (1000), uploaded concurrently.
    client = make_client(server_url, connection_kwargs={"maxsize": 8})
    session = client.session(Usecase(USECASE, compression="none"), org=42, test=scope_id)
    upload = session.initiate_multipart_upload(key="mp-many")
    count = 1010
    chunks = {n: f"<{n}>".encode() for n in range(1, count + 1)}
    with ThreadPoolExecutor(max_workers=8) as pool:
        completed = list(pool.map(lambda n: put(upload, chunks[n], n), chunks))
    listed = upload.list_parts()
    assert [p.part_number for p in listed] == list(range(1, count + 1))
    assert {p.part_number: p.etag for p in listed} == {c.part_number: c.etag for c in completed}
    assert upload.complete(completed) == "mp-many"
    assert read(session, "mp-many") == b"".join(chunks[n] for n in range(1, count + 1))


def test_abort(raw_session: Session) -> None:
    upload = raw_session.initiate_multipart_upload(key="mp-abort")
    part = put(upload, b"some data", 1)
    upload.abort()
    assert raw_session.get("mp-abort") is None
    with pytest.raises(RequestError):
        upload.complete([part])
    assert raw_session.get("mp-abort") is None


def test_abort_keeps_existing_object(raw_session: Session) -> None:
    raw_session.put(b"existing", key="mp-abort-existing")
    upload = raw_session.initiate_multipart_upload(key="mp-abort-existing")
    put(upload, b"replacement", 1)
    upload.abort()
    assert read(raw_session, "mp-abort-existing") == b"existing"


def test_complete_with_bad_etag(raw_session: Session) -> None:
    upload = raw_session.initiate_multipart_upload(key="mp-bad-etag")
    put(upload, b"real data", 1)
    with pytest.raises(MultipartCompleteError) as error:
        upload.complete([CompletePart(part_number=1, etag="bogus-etag")])
    assert isinstance(error.value.code, str) and error.value.code
    assert error.value.status == 200
    assert raw_session.get("mp-bad-etag") is None


def test_complete_with_missing_part(raw_session: Session) -> None:
    upload = raw_session.initiate_multipart_upload(key="mp-missing-part")
    p1 = put(upload, b"one", 1)
    with pytest.raises(MultipartCompleteError) as error:
        upload.complete([p1, CompletePart(part_number=2, etag=p1.etag)])
    assert error.value.code
    assert raw_session.get("mp-missing-part") is None


def test_complete_subset_of_parts(raw_session: Session) -> None:
    upload = raw_session.initiate_multipart_upload(key="mp-subset")
    p1 = put(upload, b"one-", 1)
    put(upload, b"two-", 2)
    p3 = put(upload, b"three", 3)
    upload.complete([p1, p3])
    assert read(raw_session, "mp-subset") == b"one-three"


def test_reupload_part_changes_etag(raw_session: Session) -> None:
    upload = raw_session.initiate_multipart_upload(key="mp-reupload")
    old = put(upload, b"original", 1)
    longer = put(upload, b"replacement part", 1)
    assert longer.etag != old.etag
    same_length = put(upload, b"REPLACEMENT PART", 1)
    assert same_length.etag != longer.etag

    parts = upload.list_parts()
    assert len(parts) == 1
    assert parts[0].etag == same_length.etag
    assert parts[0].size == 16

    # A stale ETag no longer matches the stored part.
    with pytest.raises(MultipartCompleteError):
        upload.complete([old])
    assert raw_session.get("mp-reupload") is None


def test_reupload_part_content_wins(raw_session: Session) -> None:
    upload = raw_session.initiate_multipart_upload(key="mp-reupload-final")
    put(upload, b"first-content", 1)
    final = put(upload, b"second", 1)
    upload.complete([final])
    assert read(raw_session, "mp-reupload-final") == b"second"


def test_resume_multipart_upload(raw_session: Session) -> None:
    upload = raw_session.initiate_multipart_upload(key="mp-resume")
    put(upload, b"first", 1)

    resumed = raw_session.resume_multipart_upload(upload.key, upload.upload_id)
    assert resumed.key == "mp-resume"
    assert resumed.upload_id == upload.upload_id
    put(resumed, b"second", 2)
    existing = resumed.list_parts()
    assert [p.part_number for p in existing] == [1, 2]
    assert resumed.complete(existing) == "mp-resume"
    assert read(raw_session, "mp-resume") == b"firstsecond"


def test_concurrent_part_uploads(server_url: str, scope_id: str) -> None:
    client: Client = make_client(server_url, connection_kwargs={"maxsize": 8})
    session = client.session(Usecase(USECASE, compression="none"), org=42, test=scope_id)
    upload = session.initiate_multipart_upload(key="mp-concurrent")
    chunks = [f"chunk-{i}|".encode() * (i + 1) for i in range(16)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(put, upload, chunk, i + 1) for i, chunk in enumerate(chunks)]
        parts = [f.result() for f in futures]
    assert upload.complete(parts) == "mp-concurrent"
    assert read(session, "mp-concurrent") == b"".join(chunks)


def test_stream_parts_and_content_md5(raw_session: Session) -> None:
    upload = raw_session.initiate_multipart_upload(key="mp-stream")
    first, second = b"streamed ", b"with md5"
    p1 = upload.put_part(NonSeekableReader(first), part_number=1, content_length=len(first))
    p2 = upload.put_part(
        second,
        part_number=2,
        content_length=len(second),
        content_md5=hashlib.md5(second).digest(),
    )
    upload.complete([p1, p2])
    assert read(raw_session, "mp-stream") == first + second


@pytest.mark.large
def test_large_parts(raw_session: Session) -> None:
    parts_data = [random_bytes(5 * MIB, seed=i) for i in range(3)] + [b"tail"]
    upload = raw_session.initiate_multipart_upload(key="mp-large")
    parts = [put(upload, data, i + 1) for i, data in enumerate(parts_data)]
    upload.complete(parts)
    assert read(raw_session, "mp-large") == b"".join(parts_data)


def test_complete_replaces_existing_object(raw_session: Session) -> None:
    raw_session.put(b"old", key="mp-replace", metadata={"v": "old"}, filename="old.txt")
    upload = raw_session.initiate_multipart_upload(key="mp-replace", metadata={"v": "new"})
    upload.complete([put(upload, b"new multipart", 1)])
    result = raw_session.get("mp-replace")
    assert result is not None
    assert result.payload.read() == b"new multipart"
    assert result.metadata.custom == {"v": "new"}
    assert result.metadata.filename is None


def test_multipart_object_can_be_overwritten_and_deleted(raw_session: Session) -> None:
    upload = raw_session.initiate_multipart_upload(key="mp-lifecycle")
    upload.complete([put(upload, b"multipart", 1)])
    raw_session.put(b"small overwrite", key="mp-lifecycle")
    assert read(raw_session, "mp-lifecycle") == b"small overwrite"
    raw_session.delete("mp-lifecycle")
    assert raw_session.get("mp-lifecycle") is None


@pytest.mark.parametrize(
    "key", ["with space", "café-unicode", "nested/path/segments", "100%literal-percent"]
)
def test_multipart_unusual_keys(raw_session: Session, key: str) -> None:
    upload = raw_session.initiate_multipart_upload(key=key)
    assert upload.key == key
    parts = [put(upload, b"a", 1), put(upload, b"b", 2)]
    assert len(upload.list_parts()) == 2
    assert upload.complete(parts) == key
    assert read(raw_session, key) == b"ab"


def test_two_uploads_for_same_key(raw_session: Session) -> None:
    first = raw_session.initiate_multipart_upload(key="mp-twice")
    second = raw_session.initiate_multipart_upload(key="mp-twice")
    assert first.upload_id != second.upload_id
    a = put(first, b"first upload", 1)
    b = put(second, b"second upload", 1)
    assert [p.part_number for p in first.list_parts()] == [1]
    first.complete([a])
    assert read(raw_session, "mp-twice") == b"first upload"
    second.complete([b])
    assert read(raw_session, "mp-twice") == b"second upload"


def test_complete_response_is_json(raw_session: Session, server_url: str, scopes: str) -> None:
    # Raw view of complete: 200, JSON content type, optional leading whitespace, {"key"}.
    upload = raw_session.initiate_multipart_upload(key="mp-raw-complete")
    part = put(upload, b"raw", 1)
    path = object_path(USECASE, scopes, "mp-raw-complete", resource="objects:multipart:complete")
    response = raw_request(
        server_url,
        "POST",
        f"{path}?{urlencode({'upload_id': upload.upload_id})}",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"parts": [{"part_number": 1, "etag": part.etag}]}).encode(),
    )
    assert response.status == 200
    assert (response.header("content-type") or "").startswith("application/json")
    assert json.loads(response.body.decode().strip()) == {"key": "mp-raw-complete"}


def test_part_upload_requires_content_length(
    raw_session: Session, server_url: str, scopes: str
) -> None:
    upload = raw_session.initiate_multipart_upload(key="mp-chunked-part")
    path = object_path(USECASE, scopes, "mp-chunked-part", resource="objects:multipart:parts")
    query = urlencode({"upload_id": upload.upload_id, "part_number": "1"})
    response = raw_request(server_url, "PUT", f"{path}?{query}", body=iter([b"chunked"]))
    assert response.status == 400
    response = raw_request(
        server_url,
        "PUT",
        f"{path}?{urlencode({'upload_id': upload.upload_id, 'part_number': '0'})}",
        body=b"zero",
    )
    assert response.status == 400
