"""Authentication and authorization (docs/http-api.md §11): JWTs, read-only URLs, pre-signed URLs.

The module's server enforces auth with Ed25519 keys generated here:

* `test_kid`  - max_permissions read, write, delete (the configuration of the brief)
* `read_kid`  - max_permissions read only
* `write_kid` - max_permissions write only
* `rotated`   - two public key versions (rotation); tokens of either key verify
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from objectstore_client import Permission, SecretKey, Session, TimeToLive, Usecase
from objectstore_client.errors import RequestError
from objectstore_client.presign import build_canonical_form
from objectstore_client.scope import Scope
from objectstore_client.utils import encode_query

from support import (
    ALL_PERMISSIONS,
    ROUNDTRIP_KEYS,
    USECASE,
    ServerProcess,
    auth_section,
    launch,
    make_client,
    object_path,
    raw_request,
    raw_url_request,
    read,
    scope_path,
)

pytestmark = pytest.mark.auth

KID = "test_kid"


@dataclass
class KeyPair:
    private_pem: str
    public_path: Path


def generate_keypair(directory: Path, name: str) -> KeyPair:
    """An Ed25519 key pair: private key PKCS#8 PEM, public key SPKI PEM (written to disk)."""
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    public_pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    (directory / f"{name}.private.pem").write_text(private_pem)
    public_path = directory / f"{name}.public.pem"
    public_path.write_bytes(public_pem)
    return KeyPair(private_pem, public_path)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    directory = tmp_path_factory.mktemp("auth-keys")
    names = ["test_kid", "read_kid", "write_kid", "rotated_old", "rotated_new", "stranger"]
    return {name: generate_keypair(directory, name) for name in names}


def key_config(keys: dict[str, KeyPair]) -> dict:
    return {
        KID: {"key_files": [keys["test_kid"].public_path], "max_permissions": ALL_PERMISSIONS},
        "read_kid": {"key_files": [keys["read_kid"].public_path], "max_permissions": ["object.read"]},
        "write_kid": {
            "key_files": [keys["write_kid"].public_path],
            "max_permissions": ["object.write"],
        },
        "rotated": {
            "key_files": [keys["rotated_old"].public_path, keys["rotated_new"].public_path],
            "max_permissions": ALL_PERMISSIONS,
        },
    }


@pytest.fixture(scope="module")
def auth_server(
    tmp_path_factory: pytest.TempPathFactory, keys: dict[str, KeyPair]
) -> Iterator[ServerProcess]:
    srv = launch(
        tmp_path_factory.mktemp("server-auth"),
        storage="tiered",
        auth=auth_section(key_config(keys), enforce=True),
    )
    yield srv
    srv.stop_checked()


@pytest.fixture(scope="module")
def auth_url(auth_server: ServerProcess) -> str:
    return auth_server.url


def secret(
    keys: dict[str, KeyPair], name: str = "test_kid", kid: str | None = None, **kwargs
) -> SecretKey:
    return SecretKey(kid or name, keys[name].private_pem, **kwargs)


@pytest.fixture
def secret_key(keys: dict[str, KeyPair]) -> SecretKey:
    return secret(keys)


def session_for(url: str, token, scope_id: str, **extra_scopes) -> Session:
    client = make_client(url, token=token)
    return client.session(
        Usecase(USECASE, compression="none", expiration_policy=TimeToLive(timedelta(days=1))),
        org=42,
        test=scope_id,
        **extra_scopes,
    )


@pytest.fixture
def auth_session(auth_url: str, secret_key: SecretKey, scope_id: str) -> Session:
    return session_for(auth_url, secret_key, scope_id)


def stored_path(auth_session: Session, scope_id: str, key: str, payload: bytes) -> str:
    """Stores `payload` under `key` through `auth_session`; the object's request path."""
    auth_session.put(payload, key=key)
    return object_path(USECASE, scope_path(org=42, test=scope_id), key)


def bearer(token: str) -> dict[str, str]:
    return {"x-os-auth": f"Bearer {token}"}


def jwt_for(
    private_pem: str,
    res: dict,
    *,
    kid: str | None = KID,
    permissions: list[str] | None = None,
    exp_in: int = 60,
    algorithm: str = "EdDSA",
) -> str:
    claims = {
        "res": res,
        "permissions": ALL_PERMISSIONS if permissions is None else permissions,
        "exp": int(time.time()) + exp_in,
    }
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims, private_pem, algorithm=algorithm, headers=headers)


def presign(
    base_url: str,
    path: str,
    key: SecretKey,
    *,
    kid: str | None = None,
    timestamp: datetime | None = None,
    duration: int = 3600,
    omit: str | None = None,
) -> str:
    """Build a pre-signed URL by hand (the client's canonical form, docs/http-api.md §11.6)."""
    moment = timestamp or datetime.now(tz=UTC)
    params = [
        ("os_kid", kid or key.kid),
        ("os_timestamp", moment.strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("os_duration", str(duration)),
    ]
    query = encode_query("&".join(f"{k}={v}" for k, v in params if k != omit))
    signature = key.signature_for_canonical_form(build_canonical_form("GET", path, query))
    return f"{base_url}{path}?{query}&os_sig={signature}"


# -- JWT via the client ---------------------------------------------------------------


def test_full_cycle_with_secret_key(auth_session: Session) -> None:
    key = auth_session.put(b"authorized", key="jwt-cycle")
    assert read(auth_session, key) == b"authorized"
    assert auth_session.head(key) is not None
    auth_session.delete(key)
    assert auth_session.get(key) is None


def test_static_token_from_mint_token(auth_session: Session, auth_url: str, scope_id: str) -> None:
    token = auth_session.mint_token()
    static = session_for(auth_url, token, scope_id)
    key = static.put(b"static token")
    assert read(static, key) == b"static token"
    static.delete(key)
    assert static.get(key) is None


def test_mint_token_claims(auth_session: Session, scope_id: str) -> None:
    before = int(time.time())
    token = auth_session.mint_token(
        permissions=[Permission.OBJECT_READ], expiry_seconds=120
    )
    assert token.count(".") == 2
    header = jwt.get_unverified_header(token)
    assert header["kid"] == KID
    assert header["alg"] == "EdDSA"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["res"] == {"os:usecase": USECASE, "org": "42", "test": scope_id}
    assert claims["permissions"] == ["object.read"]
    assert before + 119 <= claims["exp"] <= int(time.time()) + 121


def test_minted_read_only_token(auth_session: Session, auth_url: str, scope_id: str) -> None:
    auth_session.put(b"readable", key="minted-ro")
    token = auth_session.mint_token(permissions=[Permission.OBJECT_READ])
    read_only = session_for(auth_url, token, scope_id)
    assert read(read_only, "minted-ro") == b"readable"
    with pytest.raises(RequestError) as error:
        read_only.put(b"nope", key="minted-ro")
    assert error.value.status == 403
    with pytest.raises(RequestError) as error:
        read_only.delete("minted-ro")
    assert error.value.status == 403


@pytest.mark.parametrize(
    ("permissions", "allowed"),
    [
        ([], set()),
        ([Permission.OBJECT_READ], {"get"}),
        ([Permission.OBJECT_WRITE], {"put"}),
        ([Permission.OBJECT_DELETE], {"delete"}),
    ],
    ids=["none", "read", "write", "delete"],
)
def test_permissions_per_operation(
    auth_session: Session,
    auth_url: str,
    keys: dict[str, KeyPair],
    scope_id: str,
    permissions: list[Permission],
    allowed: set[str],
) -> None:
    auth_session.put(b"target", key="perm-target")
    limited = session_for(auth_url, secret(keys, permissions=permissions), scope_id)
    operations = {
        "get": lambda: limited.get("perm-target"),
        "head": lambda: limited.head("perm-target"),
        "put": lambda: limited.put(b"x", key="perm-other"),
        "delete": lambda: limited.delete("perm-other"),
    }
    for name, call in operations.items():
        should_pass = name in allowed or (name == "head" and "get" in allowed)
        if should_pass:
            call()
        else:
            with pytest.raises(RequestError) as error:
                call()
            assert error.value.status == 403, name


def test_max_permissions_caps_token(
    auth_session: Session, auth_url: str, keys: dict[str, KeyPair], scope_id: str
) -> None:
    auth_session.put(b"capped", key="capped")
    read_key = session_for(auth_url, secret(keys, "read_kid"), scope_id)  # asks for all three
    assert read(read_key, "capped") == b"capped"
    with pytest.raises(RequestError) as error:
        read_key.put(b"x", key="capped")
    assert error.value.status == 403

    write_key = session_for(auth_url, secret(keys, "write_kid"), scope_id)
    write_key.put(b"written", key="capped-write")
    with pytest.raises(RequestError) as error:
        write_key.get("capped-write")
    assert error.value.status == 403


def test_rotated_key_versions(auth_url: str, keys: dict[str, KeyPair], scope_id: str) -> None:
    old = session_for(auth_url, secret(keys, "rotated_old", kid="rotated"), scope_id)
    new = session_for(auth_url, secret(keys, "rotated_new", kid="rotated"), scope_id)
    old.put(b"old key", key="rotation")
    assert read(new, "rotation") == b"old key"


def test_token_for_other_scope_or_usecase_is_forbidden(
    auth_session: Session, auth_url: str, secret_key: SecretKey, scope_id: str
) -> None:
    path = stored_path(auth_session, scope_id, "scoped", b"scoped")
    for usecase, scope in (
        (USECASE, Scope(org=43, test=scope_id)),
        (USECASE, Scope(org=42, test="someone-else")),
        (USECASE, Scope(org=42)),  # request scope `test` missing from the token
        (USECASE + "-other", Scope(org=42, test=scope_id)),
    ):
        token = secret_key.token_for_scope(usecase, scope)
        response = raw_request(auth_url, "GET", path, headers=bearer(token))
        assert response.status == 403, (usecase, str(scope), response.status)


def test_token_scope_matching_rules(
    auth_session: Session, auth_url: str, keys: dict[str, KeyPair], scope_id: str
) -> None:
    path = stored_path(auth_session, scope_id, "rules", b"rules")
    private = keys["test_kid"].private_pem
    accepted = [
        {"os:usecase": USECASE, "org": "42", "test": scope_id},
        # extra token scopes that are not in the request are ignored
        {"os:usecase": USECASE, "org": "42", "test": scope_id, "project": "1"},
        # `*` matches any value
        {"os:usecase": USECASE, "org": "*", "test": "*"},
    ]
    for res in accepted:
        response = raw_request(auth_url, "GET", path, headers=bearer(jwt_for(private, res)))
        assert response.status == 200, (res, response.status, response.body)
        assert response.body == b"rules"
    rejected = [{"os:usecase": "*", "org": "42", "test": scope_id}]
    for res in rejected:
        response = raw_request(auth_url, "GET", path, headers=bearer(jwt_for(private, res)))
        assert response.status == 403, (res, response.status)


# -- token transport and validation (raw) --------------------------------------------


@pytest.fixture
def protected_path(auth_session: Session, scope_id: str) -> str:
    return stored_path(auth_session, scope_id, "protected", b"protected")


@pytest.fixture
def good_token(secret_key: SecretKey, scope_id: str) -> str:
    return secret_key.token_for_scope(USECASE, Scope(org=42, test=scope_id))


def test_no_token_is_400(auth_url: str, protected_path: str) -> None:
    for method in ("GET", "HEAD", "DELETE"):
        assert raw_request(auth_url, method, protected_path).status == 400, method
    assert raw_request(auth_url, "PUT", protected_path, body=b"x").status == 400


def test_token_transports(auth_url: str, protected_path: str, good_token: str) -> None:
    accepted = [
        ({"x-os-auth": f"Bearer {good_token}"}, ""),
        ({"Authorization": f"Bearer {good_token}"}, ""),
        ({"x-os-auth": f"bearer {good_token}"}, ""),
        ({}, f"?os_auth={good_token}"),
        # the header wins over a garbage query token
        ({"x-os-auth": f"Bearer {good_token}"}, "?os_auth=garbage"),
    ]
    for headers, query in accepted:
        response = raw_request(auth_url, "GET", protected_path + query, headers=headers)
        assert response.status == 200, (headers, query, response.status)
        assert response.body == b"protected"


def test_header_without_bearer_prefix_counts_as_missing(
    auth_url: str, protected_path: str, good_token: str
) -> None:
    response = raw_request(auth_url, "GET", protected_path, headers={"x-os-auth": good_token})
    assert response.status == 400


@pytest.mark.parametrize(
    "case", ["garbage", "expired", "foreign-signature", "unknown-kid", "hs256", "wrong-aud"]
)
def test_invalid_token_is_401(
    auth_url: str, protected_path: str, keys: dict[str, KeyPair], scope_id: str, case: str
) -> None:
    res = {"os:usecase": USECASE, "org": "42", "test": scope_id}
    if case == "garbage":
        token = "not.a.jwt"
    elif case == "expired":
        token = jwt_for(keys["test_kid"].private_pem, res, exp_in=-300)
    elif case == "foreign-signature":
        token = jwt_for(keys["stranger"].private_pem, res)
    elif case == "unknown-kid":
        token = jwt_for(keys["test_kid"].private_pem, res, kid="no-such-kid")
    elif case == "hs256":
        token = jwt_for("x" * 64, res, algorithm="HS256")
    else:
        token = jwt.encode(
            {"res": res, "permissions": ALL_PERMISSIONS, "exp": int(time.time()) + 60, "aud": "x"},
            keys["test_kid"].private_pem,
            algorithm="EdDSA",
            headers={"kid": KID},
        )
    response = raw_request(auth_url, "GET", protected_path, headers=bearer(token))
    assert response.status == 401, (case, response.status, response.body)


def test_token_without_kid_is_400(
    auth_url: str, protected_path: str, keys: dict[str, KeyPair], scope_id: str
) -> None:
    res = {"os:usecase": USECASE, "org": "42", "test": scope_id}
    token = jwt_for(keys["test_kid"].private_pem, res, kid=None)
    response = raw_request(auth_url, "GET", protected_path, headers=bearer(token))
    assert response.status == 400


def test_internal_endpoints_need_no_token(auth_url: str) -> None:
    assert raw_request(auth_url, "GET", "/health").status == 200
    assert raw_request(auth_url, "GET", "/ready").status == 200


# -- object_url -----------------------------------------------------------------------


def test_object_url_with_read_only_token(auth_session: Session) -> None:
    auth_session.put(b"read only hello", key="read-only-url")
    url = auth_session.object_url("read-only-url", token_validity=timedelta(minutes=5))
    query = parse_qs(urlsplit(url).query, strict_parsing=True)
    assert list(query) == ["os_auth"]
    (token,) = query["os_auth"]
    assert token.count(".") == 2
    assert jwt.decode(token, options={"verify_signature": False})["permissions"] == [
        "object.read"
    ]

    response = raw_url_request(url)
    assert response.status == 200
    assert response.body == b"read only hello"
    # The embedded token is read-only.
    assert raw_url_request(url, "DELETE").status == 403
    assert auth_session.get("read-only-url") is not None


def test_object_url_without_token_is_400(auth_session: Session) -> None:
    auth_session.put(b"needs auth", key="needs-auth")
    url = auth_session.object_url("needs-auth")
    assert urlsplit(url).query == ""
    assert raw_url_request(url).status == 400


def test_object_url_with_garbage_token_is_401(auth_session: Session) -> None:
    auth_session.put(b"x", key="garbage-url")
    url = auth_session.object_url("garbage-url") + "?os_auth=garbage"
    assert raw_url_request(url).status == 401


# -- pre-signed URLs ------------------------------------------------------------------


def test_presigned_get(auth_session: Session) -> None:
    auth_session.put(b"presigned hello", key="presigned-get")
    url = auth_session.presigned_object_url("GET", "presigned-get", duration=timedelta(hours=1))
    response = raw_url_request(url)
    assert response.status == 200
    assert response.body == b"presigned hello"


def test_presigned_head(auth_session: Session) -> None:
    auth_session.put(b"presigned hello", key="presigned-head")
    url = auth_session.presigned_object_url("HEAD", "presigned-head", duration=timedelta(hours=1))
    response = raw_url_request(url, "HEAD")
    assert response.status == 204
    # GET and HEAD signatures are interchangeable.
    assert raw_url_request(url, "GET").body == b"presigned hello"


@pytest.mark.parametrize("key", ROUNDTRIP_KEYS)
def test_presigned_get_key_corner_cases(auth_session: Session, key: str) -> None:
    payload = f"payload for {key}".encode()
    assert auth_session.put(payload, key=key) == key
    url = auth_session.presigned_object_url("GET", key, duration=timedelta(hours=1))
    response = raw_url_request(url)
    assert response.status == 200, f"key {key!r}: {response.status}"
    assert response.body == payload


def test_presigned_missing_object_is_404(auth_session: Session) -> None:
    url = auth_session.presigned_object_url("GET", "presigned-missing")
    assert raw_url_request(url).status == 404


def test_presigned_tampered_signature_is_401(auth_session: Session) -> None:
    auth_session.put(b"presigned hello", key="presigned-tamper")
    url = auth_session.presigned_object_url("GET", "presigned-tamper", duration=timedelta(hours=1))
    last = url[-1]
    for replacement in ("A", "B", "Q", "g"):
        if replacement == last:
            continue
        response = raw_url_request(url[:-1] + replacement)
        assert response.status == 401, (replacement, response.status)
    first_sig_char = url.index("os_sig=") + len("os_sig=")
    flipped = "A" if url[first_sig_char] != "A" else "B"
    tampered = url[:first_sig_char] + flipped + url[first_sig_char + 1 :]
    assert raw_url_request(tampered).status == 401


def test_presigned_url_only_allows_reads(auth_session: Session) -> None:
    auth_session.put(b"read me", key="presigned-readonly")
    url = auth_session.presigned_object_url("GET", "presigned-readonly")
    assert raw_url_request(url, "PUT", body=b"overwrite").status == 403
    assert raw_url_request(url, "DELETE").status == 403
    assert read(auth_session, "presigned-readonly") == b"read me"


def test_presigned_url_for_other_path_is_401(auth_session: Session) -> None:
    auth_session.put(b"one", key="presigned-one")
    auth_session.put(b"two", key="presigned-two")
    url = auth_session.presigned_object_url("GET", "presigned-one")
    assert raw_url_request(url.replace("presigned-one", "presigned-two")).status == 401
    assert raw_url_request(url + "&extra=1").status == 401


def test_presigned_validity_window(
    auth_session: Session, auth_url: str, secret_key: SecretKey, scope_id: str
) -> None:
    path = stored_path(auth_session, scope_id, "presigned-window", b"window")
    now = datetime.now(tz=UTC)
    ok = presign(auth_url, path, secret_key)
    assert raw_url_request(ok).status == 200
    expired = presign(auth_url, path, secret_key, timestamp=now - timedelta(hours=2), duration=60)
    assert raw_url_request(expired).status == 401
    future = presign(auth_url, path, secret_key, timestamp=now + timedelta(hours=1))
    assert raw_url_request(future).status == 401
    too_long = presign(auth_url, path, secret_key, duration=7 * 24 * 3600 + 1)
    assert raw_url_request(too_long).status == 400
    longest = presign(auth_url, path, secret_key, duration=7 * 24 * 3600)
    assert raw_url_request(longest).status == 200


def test_presigned_bad_parameters(
    auth_session: Session, auth_url: str, keys: dict[str, KeyPair], scope_id: str
) -> None:
    path = stored_path(auth_session, scope_id, "presigned-params", b"params")
    key = secret(keys)
    for param in ("os_kid", "os_timestamp", "os_duration"):
        assert raw_url_request(presign(auth_url, path, key, omit=param)).status == 400, param
    unknown = presign(auth_url, path, secret(keys, "stranger"), kid="no-such-kid")
    assert raw_url_request(unknown).status == 401
    foreign = presign(auth_url, path, secret(keys, "stranger"), kid=KID)
    assert raw_url_request(foreign).status == 401


def test_presigned_by_key_without_read_permission_is_403(
    auth_session: Session, auth_url: str, keys: dict[str, KeyPair], scope_id: str
) -> None:
    path = stored_path(auth_session, scope_id, "presigned-noread", b"no read")
    url = presign(auth_url, path, secret(keys, "write_kid"))
    assert raw_url_request(url).status == 403


# -- other operations under auth ------------------------------------------------------


def test_multipart_with_auth(
    auth_session: Session, auth_url: str, keys: dict[str, KeyPair], scope_id: str
) -> None:
    upload = auth_session.initiate_multipart_upload(key="mp-auth")
    parts = [
        upload.put_part(b"auth ", part_number=1, content_length=5),
        upload.put_part(b"parts", part_number=2, content_length=5),
    ]
    assert len(upload.list_parts()) == 2
    assert upload.complete(parts) == "mp-auth"
    assert read(auth_session, "mp-auth") == b"auth parts"

    read_only = session_for(auth_url, secret(keys, permissions=[Permission.OBJECT_READ]), scope_id)
    with pytest.raises(RequestError) as error:
        read_only.initiate_multipart_upload(key="mp-auth-ro")
    assert error.value.status == 403
    other = auth_session.initiate_multipart_upload(key="mp-auth-ro")
    resumed = read_only.resume_multipart_upload(other.key, other.upload_id)
    with pytest.raises(RequestError) as error:
        resumed.put_part(b"x", part_number=1, content_length=1)
    assert error.value.status == 403
    with pytest.raises(RequestError) as error:
        resumed.list_parts()
    assert error.value.status == 403
    other.abort()


def test_extend_expiry_requires_write(
    auth_session: Session, auth_url: str, keys: dict[str, KeyPair], scope_id: str
) -> None:
    key = auth_session.put(b"expiring")
    read_only = session_for(auth_url, secret(keys, permissions=[Permission.OBJECT_READ]), scope_id)
    with pytest.raises(RequestError) as error:
        read_only.extend_expiry(key, from_creation=timedelta(days=3))
    assert error.value.status == 403
    auth_session.extend_expiry(key, from_creation=timedelta(days=3))
    metadata = auth_session.head(key)
    assert metadata is not None and metadata.time_created is not None
    assert metadata.time_expires == metadata.time_created + timedelta(days=3)


def test_resumable_put_with_auth(auth_session: Session) -> None:
    payload = b"resumable with auth\n" * 200
    key = auth_session.put(payload, key="resumable-auth", resumable_threshold_bytes=1)
    assert read(auth_session, key) == payload


# -- configuration variants -----------------------------------------------------------


def test_keys_without_enforcement(server_factory, keys: dict[str, KeyPair], scope_id: str) -> None:
    # Auth active but not enforcing: credentials are checked and logged, never rejected.
    server = server_factory(auth=auth_section(key_config(keys), enforce=False))
    anonymous = make_client(server.url).session(Usecase(USECASE), org=42, test=scope_id)
    key = anonymous.put(b"anonymous")
    assert read(anonymous, key) == b"anonymous"
    path = object_path(USECASE, scope_path(org=42, test=scope_id), key)
    assert raw_request(server.url, "GET", path, headers=bearer("garbage")).status == 200
    signed = session_for(server.url, secret(keys), scope_id)
    assert signed.put(b"signed", key="signed") == "signed"


def test_keys_from_environment_inline_table(
    server_factory, keys: dict[str, KeyPair], scope_id: str
) -> None:
    # The form used by the official Python tests (docs/http-api.md §15.2).
    public = keys["test_kid"].public_path
    env_keys = (
        f'{{{KID}={{key_files=["{public}"],'
        'max_permissions=["object.read","object.write","object.delete"]}}'
    )
    server = server_factory(auth={"enforce": True}, env={"OS__AUTH__KEYS": env_keys})
    signed = session_for(server.url, secret(keys), scope_id)
    key = signed.put(b"env keys")
    assert read(signed, key) == b"env keys"
    path = object_path(USECASE, scope_path(org=42, test=scope_id), key)
    assert raw_request(server.url, "GET", path).status == 400
