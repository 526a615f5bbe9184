"""Object keys: URL-encoding corner cases must round-trip byte-exactly
(docs/http-api.md §2.3, §2.5)."""

from __future__ import annotations

import pytest
from objectstore_client import Session

from support import ROUNDTRIP_KEYS, USECASE, assert_separate, object_path, raw_request


@pytest.mark.parametrize("key", ROUNDTRIP_KEYS)
def test_key_roundtrip(session: Session, key: str) -> None:
    payload = f"payload for {key}".encode()
    stored = session.put(payload, key=key)
    assert stored == key

    result = session.get(key)
    assert result is not None, f"key {key!r} not readable"
    assert result.payload.read() == payload

    head = session.head(key)
    assert head is not None

    session.delete(key)
    assert session.get(key) is None
    assert session.head(key) is None


@pytest.mark.parametrize("key", ROUNDTRIP_KEYS)
def test_key_roundtrip_uncompressed_raw_read(
    raw_session: Session, server_url: str, scopes: str, key: str
) -> None:
    # The same key read with a plain HTTP client, path encoded like the Python client.
    payload = f"raw payload for {key}".encode()
    assert raw_session.put(payload, key=key) == key
    response = raw_request(server_url, "GET", object_path(USECASE, scopes, key))
    assert response.status == 200, f"key {key!r}: {response.status} {response.body!r}"
    assert response.body == payload


def test_literal_percent_is_not_decoded(session: Session) -> None:
    # `looks%20encoded` goes on the wire as `looks%2520encoded` and must be stored
    # under the literal key, distinct from `looks encoded`.
    assert session.put(b"literal", key="looks%20encoded") == "looks%20encoded"
    assert session.put(b"spaced", key="looks encoded") == "looks encoded"
    literal = session.get("looks%20encoded")
    spaced = session.get("looks encoded")
    assert literal is not None and spaced is not None
    assert literal.payload.read() == b"literal"
    assert spaced.payload.read() == b"spaced"


def test_plus_is_not_space(session: Session) -> None:
    session.put(b"plus", key="a+b")
    assert session.get("a b") is None
    result = session.get("a+b")
    assert result is not None and result.payload.read() == b"plus"


def test_keys_are_case_sensitive(session: Session) -> None:
    session.put(b"upper", key="CaseKey")
    session.put(b"lower", key="casekey")
    upper, lower = session.get("CaseKey"), session.get("casekey")
    assert upper is not None and lower is not None
    assert upper.payload.read() == b"upper"
    assert lower.payload.read() == b"lower"


def test_encoded_slash_is_equivalent_to_slash(
    raw_session: Session, server_url: str, scopes: str
) -> None:
    # The key is percent-decoded as a whole, so `%2F` and `/` address the same key.
    response = raw_request(
        server_url,
        "PUT",
        f"/v1/objects/{USECASE}/{scopes}/dir%2Ffile.txt",
        body=b"encoded slash",
    )
    assert response.status == 200, response.body
    assert response.json() == {"key": "dir/file.txt"}
    result = raw_session.get("dir/file.txt")
    assert result is not None
    assert result.payload.read() == b"encoded slash"


def test_key_that_is_a_prefix_of_another_key(session: Session) -> None:
    # Keys are opaque strings: `dir`, `dir/child` and `dir/child/leaf` are three
    # independent objects, in either creation order.
    session.put(b"parent", key="dir")
    session.put(b"child", key="dir/child")
    session.put(b"leaf", key="dir/child/leaf")
    session.put(b"deep first", key="other/deep/leaf")
    session.put(b"shallow later", key="other/deep")
    expected = {
        "dir": b"parent",
        "dir/child": b"child",
        "dir/child/leaf": b"leaf",
        "other/deep/leaf": b"deep first",
        "other/deep": b"shallow later",
    }
    for key, payload in expected.items():
        result = session.get(key)
        assert result is not None, f"{key!r} missing"
        assert result.payload.read() == payload
    session.delete("dir/child")
    assert session.get("dir/child") is None
    leaf = session.get("dir/child/leaf")
    assert leaf is not None and leaf.payload.read() == b"leaf"


def test_long_key(session: Session) -> None:
    key = "/".join(f"segment-{i:03d}-" + "x" * 40 for i in range(8))
    assert session.put(b"long", key=key) == key
    result = session.get(key)
    assert result is not None and result.payload.read() == b"long"


def test_same_key_in_different_usecases_is_independent(client, scope_id: str) -> None:
    from objectstore_client import Usecase

    first = client.session(Usecase(USECASE), org=42, test=scope_id)
    second = client.session(Usecase(USECASE + "-other"), org=42, test=scope_id)
    assert_separate(first, second, "shared", (b"first usecase", b"second usecase"))
