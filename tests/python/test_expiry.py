"""Expiration: TTL/TTI behaviour, `Session.extend_expiry` (docs/http-api.md §6.9, §7) and
usecase expiration limits from the server configuration (docs/http-api.md §6.10)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from objectstore_client import (
    ExpiryExtensionRejected,
    ObjectNotFound,
    Session,
    TimeToIdle,
    TimeToLive,
    Usecase,
)
from objectstore_client.errors import RequestError

from support import (
    USECASE,
    assert_between,
    ceil_second,
    floor_second,
    make_client,
    object_path,
    random_bytes,
    raw_request,
    read,
    sleep_until,
    utcnow,
    whole_seconds,
)

DAY = timedelta(days=1)


def head(session: Session, key: str):
    metadata = session.head(key)
    assert metadata is not None, f"object {key!r} not found"
    assert metadata.time_created is not None
    return metadata


# -- expiry actually happens ----------------------------------------------------------


@pytest.mark.slow
def test_ttl_object_disappears_after_deadline(session: Session) -> None:
    key = session.put(b"short lived", expiration_policy=TimeToLive(timedelta(seconds=2)))
    metadata = head(session, key)
    assert metadata.time_expires == metadata.time_created + timedelta(seconds=2)
    assert read(session, key) == b"short lived"

    sleep_until(metadata.time_expires + timedelta(seconds=1.2))
    assert session.get(key) is None
    assert session.head(key) is None
    with pytest.raises(ObjectNotFound):
        session.extend_expiry(key, from_now=DAY)
    session.delete(key)  # deleting an expired object is fine

    # The key is free for a new object.
    session.put(b"reborn", key=key)
    assert read(session, key) == b"reborn"


@pytest.mark.slow
def test_tti_access_pushes_deadline(session: Session) -> None:
    tti = timedelta(seconds=8)  # debounce = tti / 4 = 2 s
    key = session.put(b"idle", expiration_policy=TimeToIdle(tti))
    first = head(session, key)  # an access, but too early to need a bump
    created = first.time_created
    assert first.time_expires == created + tti
    assert first.expiration_policy == TimeToIdle(tti)

    # Access after 3 s: the stored deadline (created + 8 s) is earlier than
    # access + 8 s - 2 s, so it is pushed to access + 8 s.
    sleep_until(created + timedelta(seconds=3))
    assert read(session, key) == b"idle"

    # Past the original deadline the object is still there, reporting the new one.
    sleep_until(created + tti + timedelta(seconds=1.5))
    later = session.head(key)
    assert later is not None, "TTI access did not extend the deadline"
    assert later.time_created == created
    assert later.time_expires is not None
    assert later.time_expires >= created + timedelta(seconds=11)
    assert later.expiration_policy == TimeToIdle(tti)


def test_tti_reports_deadline_before_access(session: Session) -> None:
    key = session.put(b"tti", expiration_policy=TimeToIdle(timedelta(hours=1)))
    metadata = head(session, key)
    assert metadata.time_expires == metadata.time_created + timedelta(hours=1)
    again = head(session, key)  # within the debounce window: unchanged
    assert again.time_expires == metadata.time_expires


# -- extend_expiry --------------------------------------------------------------------


def test_extend_from_creation(session: Session) -> None:
    key = session.put(
        b"payload",
        content_type="text/plain",
        origin="203.0.113.42",
        filename="f.txt",
        metadata={"k": "v"},
        expiration_policy=TimeToLive(DAY),
    )
    before = head(session, key)

    session.extend_expiry(key, from_creation=timedelta(days=3))
    extended = head(session, key)
    assert extended.time_created == before.time_created
    assert extended.time_expires == before.time_created + timedelta(days=3)
    assert extended.expiration_policy == TimeToLive(timedelta(days=3))
    assert extended.content_type == "text/plain"
    assert extended.origin == "203.0.113.42"
    assert extended.filename == "f.txt"
    assert extended.custom == {"k": "v"}
    assert extended.compression == "zstd"

    # A shorter target never shortens the deadline, and changes nothing.
    session.extend_expiry(key, from_creation=timedelta(days=2))
    assert head(session, key) == extended
    assert read(session, key) == b"payload"


def test_extend_from_now(session: Session) -> None:
    key = session.put(b"payload", expiration_policy=TimeToLive(timedelta(hours=1)))
    created = head(session, key).time_created

    before = utcnow()
    session.extend_expiry(key, from_now=timedelta(days=2))
    after = utcnow()
    extended = head(session, key)
    assert_between(
        extended.time_expires,
        floor_second(before) + timedelta(days=2),
        ceil_second(after) + timedelta(days=2),
        "time_expires",
        slack=timedelta(seconds=1),
    )
    assert extended.time_created == created
    assert extended.time_expires is not None
    assert extended.expiration_policy == TimeToLive(
        whole_seconds(extended.time_expires - created)
    )
    assert read(session, key) == b"payload"


def test_extend_at_absolute_time(session: Session) -> None:
    key = session.put(b"payload", expiration_policy=TimeToLive(DAY))
    created = head(session, key).time_created
    target = created + timedelta(days=5, milliseconds=250)

    session.extend_expiry(key, at=target)
    extended = head(session, key)
    expected = ceil_second(target)
    assert extended.time_expires == expected
    assert extended.expiration_policy == TimeToLive(whole_seconds(expected - created))


def test_extend_at_with_non_utc_offset(session: Session) -> None:
    key = session.put(b"payload", expiration_policy=TimeToLive(DAY))
    created = head(session, key).time_created
    target = (created + timedelta(days=4)).astimezone(timezone(timedelta(hours=2)))
    session.extend_expiry(key, at=target)
    assert head(session, key).time_expires == ceil_second(target.astimezone(UTC))


def test_extend_with_past_or_zero_target_changes_nothing(session: Session) -> None:
    key = session.put(b"payload", expiration_policy=TimeToLive(DAY))
    before = head(session, key)
    session.extend_expiry(key, at=datetime(2001, 1, 1, tzinfo=UTC))
    session.extend_expiry(key, from_now=timedelta(0))
    session.extend_expiry(key, from_creation=timedelta(0))
    assert head(session, key) == before


def test_extend_tti_keeps_tti_duration(session: Session) -> None:
    tti = timedelta(hours=1)
    key = session.put(b"payload", expiration_policy=TimeToIdle(tti))
    created = head(session, key).time_created
    session.extend_expiry(key, from_creation=timedelta(days=10))
    extended = head(session, key)
    assert extended.time_expires == created + timedelta(days=10)
    assert extended.expiration_policy == TimeToIdle(tti)
    # A read (TTI access) must not shorten the extended deadline.
    assert read(session, key) == b"payload"
    assert head(session, key).time_expires == created + timedelta(days=10)


def test_extend_large_object(session: Session) -> None:
    payload = random_bytes(3 * 1024 * 1024, seed=5)
    key = session.put(payload, compress="none", expiration_policy=TimeToLive(DAY))
    created = head(session, key).time_created
    session.extend_expiry(key, from_creation=timedelta(days=3))
    assert head(session, key).time_expires == created + timedelta(days=3)
    assert read(session, key) == payload


def test_extend_missing_object(session: Session) -> None:
    with pytest.raises(ObjectNotFound) as error:
        session.extend_expiry("missing", from_now=DAY)
    assert error.value.status == 404


def test_extend_manual_object_is_rejected(session: Session) -> None:
    key = session.put(b"payload")
    with pytest.raises(ExpiryExtensionRejected) as error:
        session.extend_expiry(key, from_now=DAY)
    assert error.value.status == 409
    metadata = head(session, key)
    assert metadata.expiration_policy is None
    assert metadata.time_expires is None


def test_extend_after_overwrite_uses_new_creation_time(session: Session) -> None:
    key = session.put(b"one", expiration_policy=TimeToLive(DAY))
    session.put(b"two", key=key, expiration_policy=TimeToLive(DAY))
    created = head(session, key).time_created
    session.extend_expiry(key, from_creation=timedelta(days=2))
    assert head(session, key).time_expires == created + timedelta(days=2)
    assert read(session, key) == b"two"


def patch_json(server_url: str, path: str, body: bytes):
    """A raw `PATCH path` with the JSON document `body`."""
    headers = {"Content-Type": "application/json"}
    return raw_request(server_url, "PATCH", path, headers=headers, body=body)


def test_extend_raw_wire_forms(raw_session: Session, server_url: str, scopes: str) -> None:
    # The server must accept `at` with `Z`, and `after` in the humantime superset.
    key = raw_session.put(b"raw", expiration_policy=TimeToLive(DAY))
    created = head(raw_session, key).time_created
    path = object_path(USECASE, scopes, key)

    response = patch_json(server_url, path, b'{"extend_expiry":{"after":"3 days","from":"creation"}}')
    assert response.status == 204, (response.status, response.body)
    assert response.body == b""
    assert head(raw_session, key).time_expires == created + timedelta(days=3)

    at = (created + timedelta(days=4)).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = patch_json(server_url, path, f'{{"extend_expiry":{{"at":"{at}"}}}}'.encode())
    assert response.status == 204, (response.status, response.body)
    assert head(raw_session, key).time_expires == created + timedelta(days=4)

    missing_path = object_path(USECASE, scopes, "missing")
    missing = patch_json(server_url, missing_path, b'{"extend_expiry":{"after":"1d","from":"now"}}')
    assert missing.status == 404
    assert missing.body == b""


# -- usecase expiration limits (server configuration) ---------------------------------

LIMITED = "limited-usecase"
LIMITS = {
    "usecases": {
        LIMITED: {
            "expiration": {
                "manual": {"allowed": False},
                "ttl": {"allowed": True, "max": "1d"},
                "tti": {"allowed": False},
            }
        }
    }
}


def test_usecase_expiration_limits(server_factory) -> None:
    server = server_factory(extra=LIMITS)
    client = make_client(server.url)
    limited = client.session(Usecase(LIMITED), org=1)

    # Allowed: ttl up to and including the maximum.
    key = limited.put(b"ok", expiration_policy=TimeToLive(DAY))
    assert read(limited, key) == b"ok"
    limited.put(b"ok", key="short", expiration_policy=TimeToLive(timedelta(hours=1)))

    for policy in (None, TimeToLive(DAY + timedelta(seconds=1)), TimeToIdle(timedelta(hours=1))):
        with pytest.raises(RequestError) as error:
            limited.put(b"rejected", key="rejected", expiration_policy=policy)
        assert error.value.status == 400, policy
        with pytest.raises(RequestError) as error:
            limited.initiate_multipart_upload(key="rejected-mp", expiration_policy=policy)
        assert error.value.status == 400, policy
    assert limited.get("rejected") is None

    # Other usecases are unconstrained.
    free = client.session(Usecase(USECASE), org=1)
    free.put(b"manual ok", key="manual")
    free.put(b"tti ok", key="tti", expiration_policy=TimeToIdle(timedelta(days=30)))
    assert read(free, "manual") == b"manual ok"
    assert read(free, "tti") == b"tti ok"
