"""Helpers shared by the Python compatibility suite.

Everything that is not a pytest fixture lives here: locating the server binary,
building and writing its configuration, starting and stopping the process, raw
HTTP requests (for what the official client cannot express), and small helpers
for payloads and timestamps.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import math
import os
import random
import re
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import urllib3
import zstandard
from objectstore_client import Client
from objectstore_client.utils import encode_path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BINARY = REPO_ROOT / "target" / "debug" / "objectstore"

HEALTH_TIMEOUT_S = 20.0
SHUTDOWN_TIMEOUT_S = 10.0
START_ATTEMPTS = 3

# Usecase used by most tests (3-64 chars of [A-Za-z0-9_-], docs/http-api.md §2.1).
USECASE = "python-compat"

# The tiering threshold (docs/http-api.md §15.4): objects up to 1 MiB stay in high-volume storage.
TIER_THRESHOLD = 1024 * 1024

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

ALL_PERMISSIONS = ["object.read", "object.write", "object.delete"]

# Keys that must round-trip byte-exactly (docs/http-api.md §2.3); the server's own tests
# read the same list.
ROUNDTRIP_KEYS: list[str] = json.loads(
    (REPO_ROOT / "tests" / "roundtrip-keys.json").read_text(encoding="utf-8")
)


# --------------------------------------------------------------------------------------
# Server binary and configuration
# --------------------------------------------------------------------------------------


class BinaryMissing(RuntimeError):
    pass


class ServerStartError(RuntimeError):
    pass


def server_binary() -> Path:
    """The server binary: `$OBJECTSTORE_BIN`, else `<repo>/target/debug/objectstore`."""
    raw = os.environ.get("OBJECTSTORE_BIN")
    if raw:
        return Path(raw).expanduser().resolve()
    return DEFAULT_BINARY


def require_binary() -> Path:
    path = server_binary()
    if not path.is_file() or not os.access(path, os.X_OK):
        source = "OBJECTSTORE_BIN" if os.environ.get("OBJECTSTORE_BIN") else "default path"
        raise BinaryMissing(
            f"objectstore server binary not found or not executable: {path} ({source}). "
            "Build it with `cargo build` (or point OBJECTSTORE_BIN at a built binary)."
        )
    return path


def free_port() -> int:
    """A port that was free a moment ago (bind port 0 on 127.0.0.1)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def storage_config(kind: str, root: Path) -> dict[str, Any]:
    """The `storage` section for one of the storage kinds the suite runs against."""
    if kind == "tiered":
        return {
            "type": "tiered",
            "high_volume": {"type": "embedded", "path": str(root / "hv")},
            "long_term": {"type": "filesystem", "path": str(root / "lt")},
        }
    if kind == "filesystem":
        return {"type": "filesystem", "path": str(root / "fs")}
    raise ValueError(f"unknown storage kind {kind!r}")


def auth_section(
    keys: Mapping[str, Mapping[str, Any]] | None = None, enforce: bool = False
) -> dict[str, Any]:
    """An `auth` section. `keys` maps kid -> {key_files: [...], max_permissions: [...]}."""
    section: dict[str, Any] = {"enforce": enforce}
    if keys:
        section["keys"] = {
            kid: {
                "key_files": [str(p) for p in spec["key_files"]],
                "max_permissions": list(spec.get("max_permissions", [])),
            }
            for kid, spec in keys.items()
        }
    return section


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Recursively merge `extra` into a copy of `base` (mappings merge, the rest replaces)."""
    out: dict[str, Any] = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def build_config(
    root: Path,
    port: int,
    *,
    storage: str = "tiered",
    auth: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the server configuration as a dict.

    `auth` replaces the default `{enforce: false}` section; `extra` is deep-merged
    last, so tests can add any key (usecases, limits, ...) or override one.
    """
    config: dict[str, Any] = {
        "http_addr": f"127.0.0.1:{port}",
        "auth": dict(auth) if auth is not None else {"enforce": False},
        "storage": storage_config(storage, root),
        # The S3 listener's default port is fixed; these servers do not use it.
        "s3": {"enabled": False},
    }
    if extra:
        config = deep_merge(config, extra)
    return config


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping):
        if value:
            raise ValueError("non-empty mapping is not a scalar")
        return "{}"
    if isinstance(value, list | tuple):
        if value:
            raise ValueError("non-empty list is not a scalar")
        return "[]"
    # A JSON string literal is a valid YAML double-quoted scalar.
    return json.dumps(str(value), ensure_ascii=False)


def _yaml_lines(value: Any, indent: int, lines: list[str]) -> None:
    pad = "  " * indent
    if isinstance(value, Mapping):
        for key, item in value.items():
            name = key if _PLAIN_KEY.match(str(key)) else json.dumps(str(key))
            if isinstance(item, Mapping | list | tuple) and item:
                lines.append(f"{pad}{name}:")
                _yaml_lines(item, indent + 1, lines)
            else:
                lines.append(f"{pad}{name}: {_yaml_scalar(item)}")
    elif isinstance(value, list | tuple):
        for item in value:
            if isinstance(item, Mapping) and item:
                # compact form: the first key goes on the dash line
                nested: list[str] = []
                _yaml_lines(item, indent + 1, nested)
                nested[0] = f"{pad}- " + nested[0][len(pad) + 2 :]
                lines.extend(nested)
            elif isinstance(item, list | tuple) and item:
                lines.append(f"{pad}-")
                _yaml_lines(item, indent + 1, lines)
            else:
                lines.append(f"{pad}- {_yaml_scalar(item)}")
    else:
        lines.append(f"{pad}{_yaml_scalar(value)}")


def to_yaml(config: Mapping[str, Any]) -> str:
    """Serialise a config dict as block-style YAML (all strings double-quoted)."""
    lines: list[str] = []
    _yaml_lines(config, 0, lines)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# Server process
# --------------------------------------------------------------------------------------


def _tail(path: Path, limit: int = 6000) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return "<no output file>"
    text = data[-limit:].decode("utf-8", "replace")
    return text if text.strip() else "<empty>"


class ServerProcess:
    """One `objectstore -c <config.yaml> run` process with its own working directory.

    The working directory holds config.yaml, the storage directories and the captured
    stdout/stderr. `start` can be called again after `stop` to restart the server on
    the same data (with a new port).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        storage: str = "tiered",
        auth: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.storage = storage
        self.auth = auth
        self.extra = extra
        self.env = dict(env or {})
        self.config_path = self.workdir / "config.yaml"
        self.stdout_path = self.workdir / "server.stdout.log"
        self.stderr_path = self.workdir / "server.stderr.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.config: dict[str, Any] = {}
        self.binary: Path | None = None

    # -- lifecycle -------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self.port is not None, "server not started"
        return f"http://127.0.0.1:{self.port}"

    def output_tail(self) -> str:
        return (
            f"--- server stderr ({self.stderr_path}) ---\n{_tail(self.stderr_path)}\n"
            f"--- server stdout ({self.stdout_path}) ---\n{_tail(self.stdout_path)}"
        )

    def command(self) -> list[str]:
        assert self.binary is not None
        return [str(self.binary), "-c", str(self.config_path), "run"]

    def start(self, port: int | None = None, listen_port: int | None = None) -> ServerProcess:
        """Start the server and wait until `GET /health` answers 200.

        `port` goes into config.yaml (a free one is picked when None, with retries if it
        was taken in the meantime). `listen_port` is where the server is expected to
        listen when that differs from the file (an `OS__HTTP_ADDR` override in `env`).
        """
        self.binary = require_binary()
        last_error: ServerStartError | None = None
        for _attempt in range(START_ATTEMPTS if port is None else 1):
            chosen = port if port is not None else free_port()
            try:
                self._spawn(chosen, listen_port)
                self._wait_healthy()
                return self
            except ServerStartError as error:
                last_error = error
                text = _tail(self.stderr_path) + _tail(self.stdout_path)
                if "in use" not in text.lower():
                    raise
        assert last_error is not None
        raise last_error

    def _spawn(self, port: int, listen_port: int | None = None) -> None:
        self.port = listen_port if listen_port is not None else port
        self.config = build_config(
            self.workdir, port, storage=self.storage, auth=self.auth, extra=self.extra
        )
        self.config_path.write_text(to_yaml(self.config), encoding="utf-8")
        # Configuration comes from the file only, plus what the test passes in `env`.
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS__")}
        env.setdefault("RUST_BACKTRACE", "1")
        env.update(self.env)
        with (
            open(self.stdout_path, "ab") as out,
            open(self.stderr_path, "ab") as err,
        ):
            self.proc = subprocess.Popen(
                self.command(),
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=env,
            )

    def _wait_healthy(self) -> None:
        assert self.proc is not None and self.port is not None
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        last = "no answer"
        while True:
            code = self.proc.poll()
            if code is not None:
                self.proc = None
                raise ServerStartError(
                    f"objectstore exited with code {code} before /health answered "
                    f"(command: {' '.join(self.command())}, cwd {self.workdir})\n"
                    f"config.yaml:\n{self.config_path.read_text()}\n{self.output_tail()}"
                )
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                try:
                    conn.request("GET", "/health")
                    resp = conn.getresponse()
                    resp.read()
                    if resp.status == 200:
                        return
                    last = f"status {resp.status}"
                finally:
                    conn.close()
            except OSError as error:
                last = repr(error)
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                self.proc = None
                raise ServerStartError(
                    f"objectstore did not answer GET /health with 200 within "
                    f"{HEALTH_TIMEOUT_S:.0f}s (last: {last}; command: "
                    f"{' '.join(self.command())})\n{self.output_tail()}"
                )
            time.sleep(0.05)

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(
        self, sig: signal.Signals = signal.SIGINT, timeout: float = SHUTDOWN_TIMEOUT_S
    ) -> int:
        """Send `sig` and wait for the exit code. Kills and raises on timeout."""
        proc = self.proc
        if proc is None:
            raise AssertionError("server is not running (never started or already stopped)")
        self.proc = None
        if proc.poll() is not None:
            return proc.returncode
        proc.send_signal(sig)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(
                f"objectstore did not exit within {timeout:.0f}s after {sig.name}\n"
                f"{self.output_tail()}"
            ) from None

    def wait_exit(self, timeout: float = SHUTDOWN_TIMEOUT_S) -> int:
        """Wait for the process to exit on its own (after a signal sent by the test)."""
        proc = self.proc
        if proc is None:
            raise AssertionError("server is not running (never started or already stopped)")
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            self.proc = None
            raise AssertionError(
                f"objectstore did not exit within {timeout:.0f}s\n{self.output_tail()}"
            ) from None
        self.proc = None
        return code

    def stop_checked(self, sig: signal.Signals = signal.SIGINT) -> None:
        """Stop with `sig` and assert a clean exit (code 0 within the timeout)."""
        was_running = self.is_running()
        code = self.stop(sig)
        assert was_running, (
            f"objectstore had already exited (code {code}) before teardown\n"
            f"{self.output_tail()}"
        )
        assert code == 0, (
            f"objectstore exited with code {code} after {sig.name}, expected 0\n"
            f"{self.output_tail()}"
        )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def launch(workdir: Path, **options: Any) -> ServerProcess:
    """Start a server (`options` as `ServerProcess` takes them), or fail the requesting
    test/fixture with the reason and output."""
    server = ServerProcess(workdir, **options)
    try:
        return server.start()
    except (BinaryMissing, ServerStartError) as error:
        message = str(error)
    pytest.fail(message, pytrace=False)  # outside `except`: no chained traceback


# --------------------------------------------------------------------------------------
# Clients and raw HTTP
# --------------------------------------------------------------------------------------


# The client's connect timeout (100 ms by default) is also urllib3's socket timeout while the
# request body is sent: an upload fails as soon as the server drains nothing for 100 ms once
# the socket buffers are full. On a shared CI host a vCPU pause or a slow disk write does that
# (seen: 5 of 576 tests failing, the release binary of the previous commit failing 10 of 20
# 20 MiB uploads in a row). Deployments uploading large objects should raise it the same
# way (docs/deployment.md); the tests use 10 s, still failing a hung server.
CLIENT_TIMEOUT = urllib3.Timeout(connect=10.0, read=60.0)


def make_client(url: str, **kwargs: Any) -> Client:
    """An official client with connect and read timeouts (see `CLIENT_TIMEOUT`), so a
    hanging server fails instead of hangs."""
    connection_kwargs = {"timeout": CLIENT_TIMEOUT, **(kwargs.pop("connection_kwargs", None) or {})}
    return Client(url, connection_kwargs=connection_kwargs, **kwargs)


def unique_id() -> str:
    """A fresh scope value / key fragment (scope-safe characters only)."""
    return uuid.uuid4().hex[:20]


def scope_path(**scopes: object) -> str:
    """The scopes path segment, formatted like the Python client (docs/http-api.md §2.2)."""
    return ";".join(f"{k}={v}" for k, v in scopes.items()) or "_"


def object_path(usecase: str, scopes: str, key: str = "", resource: str = "objects") -> str:
    """A request path encoded exactly like the Python client (docs/http-api.md §2.5)."""
    return encode_path(f"/v1/{resource}/{usecase}/{scopes}/{key}")


@dataclass
class RawResponse:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    def header_names(self) -> list[str]:
        return [key for key, _ in self.headers]

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


def raw_request(
    base_url: str,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str | bytes] | None = None,
    body: bytes | Iterable[bytes] | None = None,
    timeout: float = 60.0,
) -> RawResponse:
    """Send one request with http.client, the path going on the wire verbatim.

    A `bytes` body is sent with Content-Length; an iterable of bytes is sent with
    `Transfer-Encoding: chunked`. A server may answer before it read the body (a refused
    request) and close the connection; the rest of the body then meets a closed socket, and
    the answer already sent is read all the same.
    """
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        try:
            conn.request(method, path, body=body, headers=dict(headers or {}))
        except (BrokenPipeError, ConnectionResetError):
            pass
        resp = conn.getresponse()
        data = resp.read()
        return RawResponse(resp.status, resp.reason, list(resp.getheaders()), data)
    finally:
        conn.close()


def raw_url_request(url: str, method: str = "GET", **kwargs: Any) -> RawResponse:
    """`raw_request` for a full URL (path and query taken verbatim)."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return raw_request(f"{parts.scheme}://{parts.netloc}", method, target, **kwargs)


# --------------------------------------------------------------------------------------
# Payloads, compression, time
# --------------------------------------------------------------------------------------


def random_bytes(size: int, seed: int = 0) -> bytes:
    """Deterministic incompressible payload."""
    return random.Random(seed).randbytes(size)


def zstd_decode(data: bytes) -> bytes:
    """Decode a (possibly multi-frame, size-less) zstd stream."""
    reader = zstandard.ZstdDecompressor().stream_reader(
        io.BytesIO(data), read_across_frames=True
    )
    return reader.read()


def zstd_encode(data: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(data)


class NonSeekableReader(io.RawIOBase):
    """A readable stream without seek/tell: the client cannot measure it."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer: Any) -> int:
        chunk = self._inner.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def utcnow() -> datetime:
    return datetime.now(tz=UTC)


def ceil_second(moment: datetime) -> datetime:
    """Round an instant up to the next whole second (unchanged if already whole)."""
    if moment.microsecond == 0:
        return moment
    return moment.replace(microsecond=0) + timedelta(seconds=1)


def floor_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def assert_utc(moment: datetime | None, what: str) -> datetime:
    assert moment is not None, f"{what} missing"
    assert moment.utcoffset() == timedelta(0), f"{what} is not UTC: {moment!r}"
    return moment


def assert_between(
    moment: datetime | None,
    earliest: datetime,
    latest: datetime,
    what: str,
    slack: timedelta = timedelta(seconds=2),
) -> None:
    moment = assert_utc(moment, what)
    assert earliest - slack <= moment <= latest + slack, (
        f"{what} = {moment.isoformat()} not within [{earliest.isoformat()}, "
        f"{latest.isoformat()}] (+/- {slack})"
    )


def sleep_until(moment: datetime) -> None:
    delay = (moment - utcnow()).total_seconds()
    if delay > 0:
        time.sleep(delay)


def whole_seconds(delta: timedelta) -> timedelta:
    return timedelta(seconds=math.floor(delta.total_seconds()))


_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


def is_canonical_base64url(text: str) -> bool:
    """Unpadded base64url whose re-encoding gives back the same text (docs/http-api.md §10.3)."""
    if not _B64URL.match(text) or len(text) % 4 == 1:
        return False
    decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return base64.urlsafe_b64encode(decoded).rstrip(b"=").decode() == text


# --------------------------------------------------------------------------------------
# Reading objects back through a client session (shared by the test modules)
# --------------------------------------------------------------------------------------

MIB = 1024 * 1024


def read(session: Any, key: str, **kwargs: Any) -> bytes:
    """The payload of `key` read through `session` (`Session.get`); the object must exist."""
    result = session.get(key, **kwargs)
    assert result is not None, f"object {key!r} not found"
    return result.payload.read()


def stored_metadata(session: Any, key: str, payload: bytes) -> list[Any]:
    """Checks that `key` reads back as `payload`; the metadata of that GET and of a HEAD,
    for the caller to check both the same way."""
    result = session.get(key)
    assert result is not None, f"object {key!r} not found"
    assert result.payload.read() == payload
    head = session.head(key)
    assert head is not None, f"HEAD {key!r} found nothing"
    return [result.metadata, head]


def assert_metadata(metadata: Any, **expected: Any) -> None:
    """Every attribute named in `expected` (`content_type=`, `origin=`, ...) has that value."""
    for name, value in expected.items():
        actual = getattr(metadata, name)
        assert actual == value, f"{name}: {actual!r}, expected {value!r}"


def assert_separate(first: Any, second: Any, key: str, payloads: tuple[bytes, bytes]) -> None:
    """Two sessions are separate namespaces for `key`: an object written through `first` is
    not seen through `second`, and each then reads back its own payload."""
    first.put(payloads[0], key=key)
    assert second.get(key) is None
    second.put(payloads[1], key=key)
    assert read(first, key) == payloads[0]
    assert read(second, key) == payloads[1]
