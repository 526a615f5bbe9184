"""Raw HTTP checks for what the official client cannot express
(docs/http-api.md §1-§7, §13, §17).

Requests are sent with http.client so the path goes on the wire verbatim.
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

import pytest
from objectstore_client import Session

from support import (
    USECASE,
    ZSTD_MAGIC,
    object_path,
    random_bytes,
    raw_request,
    zstd_encode,
)

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
RANGE_PAYLOAD = b"0123456789abcdefghijkl"  # 22 bytes, as in the reference tests


def put_raw(server_url: str, path: str, body: bytes = b"payload", **headers: str):
    response = raw_request(server_url, "PUT", path, headers=headers, body=body)
    assert response.status == 200, (response.status, response.body)
    return response


def assert_lowercase_names(response) -> None:
    upper = [name for name in response.header_names() if name != name.lower()]
    assert not upper, f"response header names must be lowercase: {upper}"


# -- internal endpoints ---------------------------------------------------------------


def test_health(server_url: str) -> None:
    response = raw_request(server_url, "GET", "/health")
    assert response.status == 200
    assert response.body.strip() == b"OK"


def test_ready(server_url: str) -> None:
    response = raw_request(server_url, "GET", "/ready")
    assert response.status == 200
    assert response.body.strip() == b"OK"


def test_keda_metrics(server_url: str) -> None:
    response = raw_request(server_url, "GET", "/keda")
    assert response.status == 200
    assert (response.header("content-type") or "").startswith("text/plain")
    text = response.body.decode()
    for metric in (
        "objectstore_bytes_total",
        "objectstore_requests_total",
        "objectstore_requests_in_flight",
        "objectstore_requests_limit",
        "objectstore_tasks_running",
        "objectstore_tasks_limit",
    ):
        assert f"# TYPE {metric} " in text, metric
        assert re.search(rf"^{metric} \d", text, re.MULTILINE), metric


# -- routing --------------------------------------------------------------------------


def test_unknown_path_is_404_with_empty_body(server_url: str) -> None:
    response = raw_request(server_url, "GET", "/v1/nothing-here")
    assert response.status == 404
    assert response.body == b""


def test_wrong_method_is_405_and_allow_lists_patch(server_url: str, scopes: str) -> None:
    response = raw_request(server_url, "POST", object_path(USECASE, scopes, "some-key"), body=b"x")
    assert response.status == 405
    allow = {m.strip().upper() for m in (response.header("allow") or "").split(",")}
    assert {"GET", "HEAD", "PUT", "DELETE", "PATCH"} <= allow, allow


# -- object endpoints -----------------------------------------------------------------


def test_post_creates_with_uuid_key(server_url: str, scopes: str) -> None:
    for path in (f"/v1/objects/{USECASE}/{scopes}", f"/v1/objects/{USECASE}/{scopes}/"):
        response = raw_request(server_url, "POST", path, body=b"posted")
        assert response.status == 201, (path, response.status, response.body)
        assert (response.header("content-type") or "").startswith("application/json")
        key = response.json()["key"]
        assert UUID_RE.match(key), key
        got = raw_request(server_url, "GET", object_path(USECASE, scopes, key))
        assert got.status == 200
        assert got.body == b"posted"


def test_put_returns_200_with_key(server_url: str, scopes: str) -> None:
    response = put_raw(server_url, object_path(USECASE, scopes, "caf\u00e9 key"))
    assert (response.header("content-type") or "").startswith("application/json")
    assert response.json() == {"key": "caf\u00e9 key"}
    assert_lowercase_names(response)


def test_chunked_request_body_is_accepted(server_url: str, scopes: str) -> None:
    path = object_path(USECASE, scopes, "chunked")
    response = raw_request(server_url, "PUT", path, body=iter([b"chunk-1|", b"chunk-2|", b"end"]))
    assert response.status == 200
    got = raw_request(server_url, "GET", path)
    assert got.body == b"chunk-1|chunk-2|end"


def test_get_missing_is_404_with_empty_body(server_url: str, scopes: str) -> None:
    response = raw_request(server_url, "GET", object_path(USECASE, scopes, "missing"))
    assert response.status == 404
    assert response.body == b""
    response = raw_request(server_url, "HEAD", object_path(USECASE, scopes, "missing"))
    assert response.status == 404


def test_delete_missing_is_204(server_url: str, scopes: str) -> None:
    response = raw_request(server_url, "DELETE", object_path(USECASE, scopes, "missing"))
    assert response.status == 204
    assert response.body == b""


def test_delete_existing_is_204(server_url: str, scopes: str) -> None:
    path = object_path(USECASE, scopes, "to-delete")
    put_raw(server_url, path)
    response = raw_request(server_url, "DELETE", path)
    assert response.status == 204
    assert response.body == b""
    assert raw_request(server_url, "GET", path).status == 404


def test_get_and_head_headers(server_url: str, scopes: str) -> None:
    path = object_path(USECASE, scopes, "with-headers")
    put_raw(
        server_url,
        path,
        body=b"hello",
        **{
            "Content-Type": "text/plain",
            "X-Sn-Expiration": "ttl:1 days 3600 seconds",  # the Python 0.2.0 format
            "X-Sn-Origin": "203.0.113.42",
            "X-Sn-Filename": "report.pdf",
            "X-Snme-Custom": "value",
            "X-Sn-Time-Created": "garbage that must be ignored",
        },
    )
    get = raw_request(server_url, "GET", path)
    head = raw_request(server_url, "HEAD", path)
    assert get.status == 200
    assert get.body == b"hello"
    assert head.status == 204
    assert head.body == b""
    for response in (get, head):
        assert_lowercase_names(response)
        assert response.header("content-type") == "text/plain"
        assert response.header("x-sn-expiration") == "ttl:1d 1h"
        assert response.header("x-sn-origin") == "203.0.113.42"
        assert response.header("x-sn-filename") == "report.pdf"
        assert response.header("x-snme-custom") == "value"
        assert response.header("accept-ranges") == "bytes"
        assert response.header("content-disposition") == 'attachment; filename="report.pdf"'
        assert response.header("content-encoding") is None
        created = response.header("x-sn-time-created")
        expires = response.header("x-sn-time-expires")
        assert created and created.endswith("Z"), created
        assert expires and expires.endswith("Z"), expires
        size = response.header("x-sn-size")
        assert size is None or size == "5"


@pytest.mark.parametrize(
    ("sent", "echoed"),
    [
        ("ttl:30s", "ttl:30s"),
        ("ttl:60s", "ttl:1m"),
        ("ttl:90min", "ttl:1h 30m"),
        ("ttl:1day", "ttl:1d"),
        ("ttl:1 days", "ttl:1d"),
        ("ttl:2d 3h 4s", "ttl:2d 3h 4s"),
        ("tti:1 days 3600 seconds", "tti:1d 1h"),
        ("tti:7d", "tti:7d"),
        ("tti:1w", "tti:7d"),
        ("ttl:400d 1h 18m 31s", "ttl:400d 1h 18m 31s"),
    ],
)
def test_expiration_input_formats_and_emitted_form(
    server_url: str, scopes: str, sent: str, echoed: str
) -> None:
    # Accept the humantime superset, emit only d/h/m/s components (docs/http-api.md §6.5).
    path = object_path(USECASE, scopes, "expiration-format")
    put_raw(server_url, path, **{"x-sn-expiration": sent})
    response = raw_request(server_url, "HEAD", path)
    assert response.header("x-sn-expiration") == echoed


def test_manual_expiration_header_is_omitted(server_url: str, scopes: str) -> None:
    path = object_path(USECASE, scopes, "manual")
    put_raw(server_url, path, **{"x-sn-expiration": "manual"})
    response = raw_request(server_url, "HEAD", path)
    assert response.status == 204
    assert response.header("x-sn-expiration") is None
    assert response.header("x-sn-time-expires") is None


@pytest.mark.parametrize(
    "headers",
    [
        {"x-sn-expiration": "ttl:"},
        {"x-sn-expiration": "forever"},
        {"content-encoding": "br"},
        {"content-encoding": "identity"},
        {"content-type": "not a media type"},
        {"x-sn-filename": "%FF%FE"},
    ],
    ids=["empty-ttl", "unknown-policy", "brotli", "identity", "bad-content-type", "bad-utf8"],
)
def test_invalid_metadata_is_rejected(server_url: str, scopes: str, headers: dict) -> None:
    path = object_path(USECASE, scopes, "invalid-metadata")
    response = raw_request(server_url, "PUT", path, headers=headers, body=b"x")
    assert response.status == 400, (response.status, response.body)
    assert raw_request(server_url, "GET", path).status == 404


def test_raw_non_ascii_header_is_rejected(server_url: str, scopes: str) -> None:
    path = object_path(USECASE, scopes, "non-ascii-header")
    response = raw_request(
        server_url, "PUT", path, headers={"x-sn-origin": "Ünknown".encode()}, body=b"x"
    )
    assert response.status == 400


def test_zstd_and_gzip_encodings_are_stored_and_echoed(server_url: str, scopes: str) -> None:
    compressed = zstd_encode(b"zstd body")
    path = object_path(USECASE, scopes, "zstd-raw")
    put_raw(server_url, path, body=compressed, **{"content-encoding": "zstd"})
    response = raw_request(server_url, "GET", path, headers={"Accept-Encoding": "gzip, br"})
    assert response.header("content-encoding") == "zstd"
    assert response.body == compressed and response.body.startswith(ZSTD_MAGIC)

    import gzip

    gzipped = gzip.compress(b"gzip body")
    path = object_path(USECASE, scopes, "gzip-raw")
    put_raw(server_url, path, body=gzipped, **{"content-encoding": "gzip"})
    response = raw_request(server_url, "GET", path)
    assert response.header("content-encoding") == "gzip"
    assert response.body == gzipped


def test_escaped_metadata_values(server_url: str, scopes: str) -> None:
    path = object_path(USECASE, scopes, "escaped")
    put_raw(
        server_url,
        path,
        **{
            "x-sn-filename": "r%C3%A9port-%F0%9F%93%84.pdf",
            "x-sn-origin": "100%25 done",
            "x-snme-key": "%6B%65%79",
        },
    )
    response = raw_request(server_url, "HEAD", path)
    for name, logical in (
        ("x-sn-filename", "réport-📄.pdf"),
        ("x-sn-origin", "100% done"),
        ("x-snme-key", "key"),
    ):
        value = response.header(name)
        assert value is not None and value.isascii(), (name, value)
        assert unquote(value, errors="strict") == logical, (name, value)


def test_client_supplied_size_is_ignored(server_url: str, scopes: str) -> None:
    path = object_path(USECASE, scopes, "size-ignored")
    put_raw(server_url, path, body=b"12345", **{"x-sn-size": "999"})
    response = raw_request(server_url, "HEAD", path)
    assert response.header("x-sn-size") in (None, "5")


def test_tracing_and_auth_headers_are_ignored_without_auth(server_url: str, scopes: str) -> None:
    path = object_path(USECASE, scopes, "traced")
    put_raw(
        server_url,
        path,
        body=b"traced",
        **{
            "User-Agent": "objectstore-client/0.2.10",
            "sentry-trace": "771a43a4192642f0b136d5159a501700-b6a2fb5fa2cbac4a-1",
            "baggage": "sentry-environment=test",
            "traceparent": "00-771a43a4192642f0b136d5159a501700-b6a2fb5fa2cbac4a-01",
            "x-os-auth": "Bearer not-a-jwt",
        },
    )
    response = raw_request(server_url, "GET", f"{path}?os_auth=garbage&os_sig=garbage")
    assert response.status == 200
    assert response.body == b"traced"


# -- key and scope validation ---------------------------------------------------------


@pytest.mark.parametrize(
    "key_path", ["a/../b", "..", "../escape", "a/..", "%2E%2E/escape", "a/%2e%2e/b"]
)
def test_dot_dot_segment_in_key_is_rejected(server_url: str, scopes: str, key_path: str) -> None:
    path = f"/v1/objects/{USECASE}/{scopes}/{key_path}"
    for method, body in (("PUT", b"escape"), ("GET", None), ("DELETE", None)):
        response = raw_request(server_url, method, path, body=body)
        assert response.status == 400, (method, key_path, response.status)


def test_dot_segments_inside_names_are_fine(server_url: str, scopes: str) -> None:
    for key in ("a..b", "...", "a/.../b", "file.", ".hidden"):
        path = object_path(USECASE, scopes, key)
        put_raw(server_url, path, body=key.encode())
        response = raw_request(server_url, "GET", path)
        assert response.status == 200, key
        assert response.body == key.encode()


@pytest.mark.parametrize(
    "bad_scopes",
    ["org", "=1", "org=", "org.1=2", "org=1.5", "org=a%20b", "org=1;", "org=caf%C3%A9", "org=a%2Fb"],
)
def test_invalid_scopes_are_rejected(server_url: str, bad_scopes: str) -> None:
    response = raw_request(server_url, "PUT", f"/v1/objects/{USECASE}/{bad_scopes}/key", body=b"x")
    assert response.status == 400, (bad_scopes, response.status, response.body)
    response = raw_request(server_url, "GET", f"/v1/objects/{USECASE}/{bad_scopes}/key")
    assert response.status == 400, (bad_scopes, response.status)


def test_underscore_means_no_scopes(server_url: str) -> None:
    path = f"/v1/objects/{USECASE}/_/no-scopes-raw-key"
    put_raw(server_url, path, body=b"unscoped")
    response = raw_request(server_url, "GET", path)
    assert response.status == 200 and response.body == b"unscoped"


# -- range requests (docs/http-api.md §5) ----------------------------------------------


@pytest.fixture
def range_path(server_url: str, scopes: str) -> str:
    path = object_path(USECASE, scopes, "range-object")
    put_raw(server_url, path, body=RANGE_PAYLOAD, **{"content-type": "text/plain"})
    return path


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [
        ("bytes=0-4", 0, 4),
        ("bytes=-9", 13, 21),
        ("bytes=7-", 7, 21),
        ("bytes=5-1000", 5, 21),
        ("bytes=21-21", 21, 21),
        ("bytes=-100", 0, 21),
        ("BYTES=2-3", 2, 3),
    ],
)
def test_range_read(server_url: str, range_path: str, spec: str, start: int, end: int) -> None:
    response = raw_request(server_url, "GET", range_path, headers={"Range": spec})
    assert response.status == 206, (spec, response.status)
    assert response.header("content-range") == f"bytes {start}-{end}/22"
    assert response.header("content-length") == str(end - start + 1)
    assert response.header("accept-ranges") == "bytes"
    assert response.header("content-type") == "text/plain"
    assert response.body == RANGE_PAYLOAD[start : end + 1]
    assert_lowercase_names(response)


@pytest.mark.parametrize("spec", ["bytes=100-200", "bytes=22-"])
def test_range_not_satisfiable(server_url: str, range_path: str, spec: str) -> None:
    response = raw_request(server_url, "GET", range_path, headers={"Range": spec})
    assert response.status == 416
    assert response.header("content-range") == "bytes */22"
    assert response.body == b""


@pytest.mark.parametrize(
    "spec", ["items=0-10", "bytes=5-2", "bytes=-0", "bytes=abc", "bytes=1-x", "bytes = 0-1"]
)
def test_invalid_range_is_400(server_url: str, range_path: str, spec: str) -> None:
    response = raw_request(server_url, "GET", range_path, headers={"Range": spec})
    assert response.status == 400, (spec, response.status)


def test_multiple_ranges_return_full_object(server_url: str, range_path: str) -> None:
    response = raw_request(server_url, "GET", range_path, headers={"Range": "bytes=0-1,3-4"})
    assert response.status == 200
    assert response.body == RANGE_PAYLOAD


def test_range_on_missing_object_is_404(server_url: str, scopes: str) -> None:
    response = raw_request(
        server_url, "GET", object_path(USECASE, scopes, "missing"), headers={"Range": "bytes=0-1"}
    )
    assert response.status == 404
    # An invalid range is rejected before the lookup.
    response = raw_request(
        server_url, "GET", object_path(USECASE, scopes, "missing"), headers={"Range": "bytes=5-2"}
    )
    assert response.status == 400


def test_range_on_empty_object_is_416(server_url: str, scopes: str) -> None:
    path = object_path(USECASE, scopes, "empty")
    put_raw(server_url, path, body=b"")
    response = raw_request(server_url, "GET", path, headers={"Range": "bytes=0-0"})
    assert response.status == 416
    assert response.header("content-range") == "bytes */0"


def test_head_ignores_range(server_url: str, range_path: str) -> None:
    response = raw_request(server_url, "HEAD", range_path, headers={"Range": "bytes=0-1"})
    assert response.status == 204


@pytest.mark.large
def test_range_on_large_object(server_url: str, scopes: str) -> None:
    payload = random_bytes(3 * 1024 * 1024 + 17, seed=99)
    path = object_path(USECASE, scopes, "large-range")
    put_raw(server_url, path, body=payload)
    total = len(payload)
    for start, end in ((0, 9), (1048570, 1048590), (total - 5, total - 1)):
        response = raw_request(server_url, "GET", path, headers={"Range": f"bytes={start}-{end}"})
        assert response.status == 206
        assert response.header("content-range") == f"bytes {start}-{end}/{total}"
        assert response.body == payload[start : end + 1]
        size = response.header("x-sn-size")
        assert size is None or size == str(total)


def test_range_on_compressed_object_uses_stored_bytes(
    session: Session, server_url: str, scopes: str
) -> None:
    payload = b"compressible " * 200
    session.put(payload, key="compressed-range")
    stored = session.get("compressed-range", decompress=False)
    assert stored is not None
    raw = stored.payload.read()
    response = raw_request(
        server_url,
        "GET",
        object_path(USECASE, scopes, "compressed-range"),
        headers={"Range": "bytes=0-3"},
    )
    assert response.status == 206
    assert response.header("content-range") == f"bytes 0-3/{len(raw)}"
    assert response.header("content-encoding") == "zstd"
    assert response.body == ZSTD_MAGIC


# -- error bodies ---------------------------------------------------------------------


def test_application_errors_have_json_detail(server_url: str, scopes: str) -> None:
    response = raw_request(
        server_url,
        "PUT",
        object_path(USECASE, scopes, "bad-expiration"),
        headers={"x-sn-expiration": "forever"},
        body=b"x",
    )
    assert response.status == 400
    assert (response.header("content-type") or "").startswith("application/json")
    body = json.loads(response.body)
    assert isinstance(body["detail"], str) and body["detail"]
