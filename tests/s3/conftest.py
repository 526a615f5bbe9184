"""Fixtures: real `objectstore` processes with the S3 listener, and boto3 clients.

* `server`: one zero-config server per module (no S3 credentials: requests are served
  whatever they are signed with).
* `signed_server`: one server per module with S3 credentials: `AKFULL` (everything),
  `AKREADER` (object.read only), `AKPHOTOS` (only the bucket `photos-only`).
* `s3(server, ...)`: a boto3 client for a server.

Every server gets SIGINT at teardown and must exit 0 within 10 seconds (the S3 listener
stops with the objectstore API).
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

REPO_ROOT = Path(__file__).resolve().parents[2]
CREDENTIALS = {
    "AKFULL": ("full-secret", None, None),
    "AKREADER": ("reader-secret", None, ["object.read"]),
    "AKPHOTOS": ("photos-secret", ["photos-only"], None),
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_binary() -> Path:
    raw = os.environ.get("OBJECTSTORE_BIN")
    path = Path(raw) if raw else REPO_ROOT / "target" / "debug" / "objectstore"
    if not path.is_file():
        pytest.fail(f"objectstore binary not found at {path}: run `cargo build`", pytrace=False)
    return path


def credentials_table() -> str:
    """`s3.credentials` as the TOML-like inline table the `OS__` variables take."""
    entries = []
    for key, (secret, usecases, permissions) in CREDENTIALS.items():
        fields = [f'secret_access_key="{secret}"']
        if usecases is not None:
            fields.append("usecases=[" + ",".join(f'"{u}"' for u in usecases) + "]")
        if permissions is not None:
            fields.append("permissions=[" + ",".join(f'"{p}"' for p in permissions) + "]")
        entries.append(f"{key}={{{','.join(fields)}}}")
    return "{" + ",".join(entries) + "}"


class S3Server:
    """`objectstore run` in a temporary directory (zero-config storage under ./data)."""

    def __init__(self, workdir: Path, *, signed: bool) -> None:
        self.workdir = workdir
        self.signed = signed
        self.http_port = free_port()
        self.s3_port = free_port()
        self.log = workdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def native(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> S3Server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS__")}
        env.update(
            {
                "OS__HTTP_ADDR": f"127.0.0.1:{self.http_port}",
                "OS__HTTP__DOWN_MARKER": str(self.workdir / "down"),
                "OS__S3__ADDR": f"127.0.0.1:{self.s3_port}",
                "OS__LOGGING__FORMAT": "simplified",
            }
        )
        if self.signed:
            env["OS__S3__CREDENTIALS"] = credentials_table()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(server_binary()), "run"],
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"objectstore exited early:\n{self.log.read_text()}", pytrace=False)
            try:
                with urllib.request.urlopen(f"{self.native}/health", timeout=1):
                    pass
                with socket.create_connection(("127.0.0.1", self.s3_port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"objectstore did not start:\n{self.log.read_text()}", pytrace=False)

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"objectstore did not stop on SIGINT:\n{self.log.read_text()}")
        assert code == 0, f"exit code {code}:\n{self.log.read_text()}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    srv = S3Server(tmp_path_factory.mktemp("s3-open"), signed=False).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def tls(server: S3Server) -> Iterator[TlsProxy]:
    proxy = TlsProxy(server.workdir, server.s3_port)
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def signed_tls(signed_server: S3Server) -> Iterator[TlsProxy]:
    proxy = TlsProxy(signed_server.workdir, signed_server.s3_port)
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def signed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    srv = S3Server(tmp_path_factory.mktemp("s3-signed"), signed=True).start()
    yield srv
    srv.stop()


class TlsProxy:
    """TLS in front of a server's S3 port, with a self-signed certificate (made with the
    `openssl` command). botocore sends aws-chunked bodies with checksum trailers only over
    HTTPS; through this proxy the suite exercises that default path. Bytes pass through
    unchanged, so signatures (over the `Host` the client sends) still verify."""

    def __init__(self, workdir: Path, backend_port: int) -> None:
        if shutil.which("openssl") is None:
            pytest.fail("the `openssl` command is needed for the TLS proxy", pytrace=False)
        self.cert = workdir / "cert.pem"
        key = workdir / "key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(key), "-out", str(self.cert)],
            check=True,
            capture_output=True,
        )
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(self.cert, key)
        self.backend_port = backend_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self.closed:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            client = self.context.wrap_socket(raw, server_side=True)
            backend = socket.create_connection(("127.0.0.1", self.backend_port))
        except OSError:
            raw.close()
            return

        def pump(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for sock in (src, dst):
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pump, args=(backend, client), daemon=True).start()
        pump(client, backend)

    def close(self) -> None:
        self.closed = True
        self.listener.close()


def s3(
    server: S3Server,
    key: str = "AKFULL",
    secret: str | None = None,
    **config: object,
):
    """A boto3 S3 client for `server`, path style, no retries (errors surface at once)."""
    if secret is None:
        secret = CREDENTIALS.get(key, ("any-secret",))[0]
    options = {
        "s3": {"addressing_style": "path"},
        "retries": {"max_attempts": 1, "mode": "standard"},
    }
    tls: TlsProxy | None = config.pop("tls", None)  # type: ignore[assignment]
    options.update(config)
    return boto3.client(
        "s3",
        endpoint_url=tls.endpoint if tls else server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        verify=str(tls.cert) if tls else None,
        config=Config(**options),
    )


class Unseekable(io.RawIOBase):
    """A file object that can only be read forward (a pipe, a socket)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer) -> int:
        n = min(len(buffer), len(self._data) - self._at)
        buffer[:n] = self._data[self._at : self._at + n]
        self._at += n
        return n


def error_code(excinfo: pytest.ExceptionInfo) -> str:
    return excinfo.value.response["Error"]["Code"]
