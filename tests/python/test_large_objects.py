"""Objects above and around the 1 MiB tiering threshold (docs/http-api.md §15.4, architecture).

With tiered storage, objects larger than 1 MiB live in long-term storage behind a
redirect tombstone; these tests check that this is invisible to the client.
"""

from __future__ import annotations

import tempfile
import threading
from datetime import timedelta

import pytest
from objectstore_client import Client, Session, TimeToLive, Usecase

from support import (
    MIB,
    TIER_THRESHOLD,
    USECASE,
    assert_metadata,
    make_client,
    random_bytes,
    read,
    stored_metadata,
    zstd_decode,
)

pytestmark = pytest.mark.large


@pytest.mark.parametrize("compress", ["none", "zstd"])
@pytest.mark.parametrize("size", [3 * MIB, 20 * MIB], ids=["3MiB", "20MiB"])
def test_large_roundtrip(session: Session, size: int, compress: str) -> None:
    payload = random_bytes(size, seed=size)
    key = f"large-{size}-{compress}"
    assert session.put(payload, key=key, compress=compress) == key
    data = read(session, key)
    assert len(data) == size
    assert data == payload

    head = session.head(key)
    assert head is not None
    assert head.compression == (None if compress == "none" else "zstd")
    if head.size is not None:
        stored = read(session, key, decompress=False)
        assert head.size == len(stored)


def test_large_compressible_payload(session: Session) -> None:
    # 20 MiB that compress to a few KiB: stored small, read back large.
    payload = (b"0123456789abcdef" * 64 * 1024) * 20
    session.put(payload, key="compressible")
    assert read(session, "compressible") == payload
    stored = read(session, "compressible", decompress=False)
    assert len(stored) < TIER_THRESHOLD
    assert zstd_decode(stored) == payload


@pytest.mark.parametrize(
    "size",
    [TIER_THRESHOLD - 1, TIER_THRESHOLD, TIER_THRESHOLD + 1],
    ids=["threshold-1", "threshold", "threshold+1"],
)
def test_sizes_around_threshold(raw_session: Session, size: int) -> None:
    payload = random_bytes(size, seed=7)
    raw_session.put(payload, key=f"edge-{size}")
    assert read(raw_session, f"edge-{size}") == payload
    head = raw_session.head(f"edge-{size}")
    assert head is not None
    if head.size is not None:
        assert head.size == size


def test_large_object_metadata(session: Session) -> None:
    payload = random_bytes(3 * MIB, seed=11)
    policy = TimeToLive(timedelta(days=2))
    custom = {"kind": "large", "note": "100% done"}
    fields = {"content_type": "application/x-tar", "origin": "Ünknown-源", "filename": "archive.tar"}
    key = session.put(payload, compress="none", metadata=custom, expiration_policy=policy, **fields)
    for metadata in stored_metadata(session, key, payload):
        assert_metadata(metadata, custom=custom, expiration_policy=policy, **fields)
        assert metadata.time_created is not None
        assert metadata.time_expires == metadata.time_created + timedelta(days=2)


def test_overwrite_small_large_small(session: Session) -> None:
    small = b"small payload"
    large = random_bytes(3 * MIB, seed=21)
    larger = random_bytes(5 * MIB, seed=22)

    session.put(small, key="switch", compress="none", metadata={"v": "small"})
    assert read(session, "switch") == small

    session.put(large, key="switch", compress="none", metadata={"v": "large"})
    assert read(session, "switch") == large
    head = session.head("switch")
    assert head is not None and head.custom == {"v": "large"}

    session.put(larger, key="switch", compress="none", metadata={"v": "larger"})
    assert read(session, "switch") == larger
    head = session.head("switch")
    assert head is not None and head.custom == {"v": "larger"}

    session.put(small + b"!", key="switch", compress="none", metadata={"v": "small-again"})
    assert read(session, "switch") == small + b"!"
    head = session.head("switch")
    assert head is not None and head.custom == {"v": "small-again"}


def test_delete_large(session: Session) -> None:
    payload = random_bytes(3 * MIB, seed=31)
    session.put(payload, key="large-delete", compress="none")
    session.delete("large-delete")
    assert session.get("large-delete") is None
    assert session.head("large-delete") is None
    session.delete("large-delete")
    session.put(b"tiny", key="large-delete")
    assert read(session, "large-delete") == b"tiny"


def test_large_stream_upload_from_file(session: Session) -> None:
    payload = random_bytes(6 * MIB, seed=41)
    with tempfile.TemporaryFile() as handle:
        handle.write(payload)
        handle.seek(0)
        key = session.put(handle, key="from-file")
    assert read(session, key) == payload


def test_large_generated_key(session: Session) -> None:
    payload = random_bytes(2 * MIB, seed=51)
    key = session.put(payload, compress="none")
    assert key
    assert read(session, key) == payload


def test_concurrent_overwrites_stay_consistent(server_url: str, scope_id: str) -> None:
    # Writers race on one key with small and large payloads; every read must return
    # one complete payload together with *its own* metadata, never a mix.
    client: Client = make_client(server_url, connection_kwargs={"maxsize": 8})
    session = client.session(Usecase(USECASE, compression="none"), org=42, test=scope_id)
    payloads = {
        str(i): random_bytes((i % 3) * MIB + 1000 + i, seed=100 + i) for i in range(8)
    }
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for _ in range(2):
                session.put(payloads[name], key="contended", metadata={"writer": name})
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    def reader() -> None:
        try:
            for _ in range(10):
                result = session.get("contended")
                if result is None:
                    continue
                data = result.payload.read()
                name = result.metadata.custom.get("writer")
                assert name in payloads, f"unexpected writer {name!r}"
                assert data == payloads[name], f"payload does not match writer {name}"
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(name,)) for name in payloads]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not any(thread.is_alive() for thread in threads), "threads hung"
    assert not errors, errors

    final = session.get("contended")
    assert final is not None
    name = final.metadata.custom["writer"]
    assert final.payload.read() == payloads[name]
