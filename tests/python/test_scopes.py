"""Scopes (matrix syntax, docs/http-api.md §2.2): each scope list is its own namespace."""

from __future__ import annotations

from objectstore_client import Client, Usecase

from support import USECASE, assert_separate, object_path, raw_request, read, scope_path


def test_scope_order_is_significant(client: Client, scope_id: str) -> None:
    usecase = Usecase(USECASE)
    forward = client.session(usecase, org=42, project=1337, run=scope_id)
    reversed_ = client.session(usecase, run=scope_id, project=1337, org=42)
    assert_separate(forward, reversed_, "ordered", (b"forward", b"reversed"))


def test_wrong_scope_does_not_see_object(client: Client, scope_id: str) -> None:
    usecase = Usecase(USECASE)
    right = client.session(usecase, org=42, project=1337, run=scope_id)
    right.put(b"scoped", key="visible-only-here")
    for other in (
        client.session(usecase, org=42, project=9999, run=scope_id),
        client.session(usecase, org=43, project=1337, run=scope_id),
        client.session(usecase, org=42, run=scope_id),
        client.session(usecase, org=42, project=1337, run=scope_id, extra=1),
    ):
        assert other.get("visible-only-here") is None
        assert other.head("visible-only-here") is None
    assert read(right, "visible-only-here") == b"scoped"


def test_delete_in_one_scope_leaves_other_scope(client: Client, scope_id: str) -> None:
    usecase = Usecase(USECASE)
    one = client.session(usecase, org=1, run=scope_id)
    two = client.session(usecase, org=2, run=scope_id)
    one.put(b"one", key="same-key")
    two.put(b"two", key="same-key")
    one.delete("same-key")
    assert one.get("same-key") is None
    assert read(two, "same-key") == b"two"


def test_no_scopes(client: Client, scope_id: str) -> None:
    unscoped = client.session(Usecase(USECASE))
    scoped = client.session(Usecase(USECASE), org=42)
    key = f"unscoped-{scope_id}"
    assert unscoped.put(b"no scopes", key=key) == key
    assert scoped.get(key) is None
    assert read(unscoped, key) == b"no scopes"
    head = unscoped.head(key)
    assert head is not None
    generated = unscoped.put(b"generated without scopes")
    assert read(unscoped, generated) == b"generated without scopes"
    unscoped.delete(key)
    assert unscoped.get(key) is None


def test_many_scopes(client: Client, scope_id: str) -> None:
    deep = client.session(
        Usecase(USECASE), org=1, project=2, env="prod", region="eu", app=scope_id
    )
    assert deep.put(b"deep", key="nested/key") == "nested/key"
    assert read(deep, "nested/key") == b"deep"


def test_scope_special_characters_and_value_types(client: Client, scope_id: str) -> None:
    # Allowed characters: A-Z a-z 0-9 _ - ( ) $ ! + '  (docs/http-api.md §2.2);
    # bools become True/False.
    session = client.session(
        Usecase(USECASE),
        run=scope_id,
        special="a-b_c(d)$e!f+g'h",
        flag=True,
        number=0,
    )
    session.put(b"special scopes", key="k")
    assert read(session, "k") == b"special scopes"
    # `flag=True` and `flag="True"` are the same namespace on the wire.
    same = client.session(
        Usecase(USECASE), run=scope_id, special="a-b_c(d)$e!f+g'h", flag="True", number="0"
    )
    assert read(same, "k") == b"special scopes"


def test_scoped_object_is_readable_by_raw_path(
    client: Client, server_url: str, scope_id: str
) -> None:
    session = client.session(Usecase(USECASE, compression="none"), org=7, run=scope_id)
    session.put(b"raw scoped", key="raw")
    path = object_path(USECASE, scope_path(org=7, run=scope_id), "raw")
    response = raw_request(server_url, "GET", path)
    assert response.status == 200
    assert response.body == b"raw scoped"
    # Percent-encoding characters of the scope segment is equivalent (decoded first).
    encoded = path.replace("org=7", "org%3D7")
    response = raw_request(server_url, "GET", encoded)
    assert response.status == 200
    assert response.body == b"raw scoped"
