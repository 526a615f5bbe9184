"""The server process: shutdown on signals, restart on the same data, CLI, config layering
(docs/http-api.md §15)."""

from __future__ import annotations

import http.client
import signal
import subprocess
import time
from datetime import timedelta

import pytest
from objectstore_client import TimeToLive, Usecase

from support import (
    USECASE,
    BinaryMissing,
    ServerProcess,
    ServerStartError,
    free_port,
    make_client,
    object_path,
    random_bytes,
    raw_request,
)

pytestmark = pytest.mark.slow


def start_server(server: ServerProcess, what: str = "start", **kwargs) -> None:
    try:
        server.start(**kwargs)
        return
    except (BinaryMissing, ServerStartError) as error:
        message = f"{what} failed: {error}"
    pytest.fail(message, pytrace=False)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_exits_zero(server_factory, sig: signal.Signals) -> None:
    server = server_factory()
    session = make_client(server.url).session(Usecase(USECASE), org=1)
    key = session.put(b"before shutdown")
    assert session.get(key) is not None
    started = time.monotonic()
    code = server.stop(sig)
    assert code == 0, f"exit code {code} after {sig.name}\n{server.output_tail()}"
    assert time.monotonic() - started < 10


def chunked_put(server: ServerProcess, key: str) -> http.client.HTTPConnection:
    """A connection that sent the head of a chunked PUT of `key`; the body is still open."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest("PUT", object_path(USECASE, "_", key))
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    return conn


def test_in_flight_request_completes_during_shutdown(server_factory) -> None:
    server = server_factory()
    conn = chunked_put(server, "in-flight")
    try:
        conn.send(b"6\r\nstart|\r\n")
        time.sleep(0.3)
        assert server.proc is not None
        server.proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        conn.send(b"4\r\nend!\r\n0\r\n\r\n")
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    assert response.status == 200, (response.status, body)
    code = server.wait_exit()  # SIGINT was sent above
    assert code == 0, f"exit code {code}\n{server.output_tail()}"


@pytest.mark.parametrize("storage", ["tiered", "filesystem"])
def test_data_survives_restart(tmp_path, storage: str) -> None:
    server = ServerProcess(tmp_path / "server", storage=storage)
    start_server(server)
    small = b"small object"
    large = random_bytes(3 * 1024 * 1024, seed=1)
    try:
        session = make_client(server.url).session(Usecase(USECASE), org=1)
        session.put(
            small,
            key="small",
            filename="s.txt",
            metadata={"k": "v"},
            expiration_policy=TimeToLive(timedelta(days=1)),
        )
        session.put(large, key="large", compress="none")
        upload = session.initiate_multipart_upload(key="multipart", compression="none")
        upload.complete([upload.put_part(b"multi", part_number=1, content_length=5)])
        session.put(b"deleted", key="deleted")
        session.delete("deleted")
        before = session.head("small")
        server.stop_checked()

        start_server(server, what="restart on the same data")
        session = make_client(server.url).session(Usecase(USECASE), org=1)
        for key, payload in (("small", small), ("large", large), ("multipart", b"multi")):
            result = session.get(key)
            assert result is not None, f"{key} lost across restart"
            assert result.payload.read() == payload
        assert session.head("small") == before
        assert session.get("deleted") is None
    finally:
        if server.is_running():
            server.stop_checked()


def test_environment_overrides_config_file(tmp_path) -> None:
    # Layering: defaults -> YAML -> OS__ environment variables (docs/http-api.md §15.2).
    file_port = free_port()
    env_port = free_port()
    while env_port == file_port:
        env_port = free_port()
    server = ServerProcess(tmp_path / "env", env={"OS__HTTP_ADDR": f"127.0.0.1:{env_port}"})
    start_server(server, port=file_port, listen_port=env_port)
    try:
        assert raw_request(server.url, "GET", "/health").status == 200
        with pytest.raises(OSError):
            raw_request(f"http://127.0.0.1:{file_port}", "GET", "/health", timeout=2)
    finally:
        server.stop_checked()


def test_enforced_auth_without_keys_refuses_to_start(tmp_path, objectstore_bin) -> None:
    binary = objectstore_bin
    workdir = tmp_path / "no-keys"
    workdir.mkdir()
    config = workdir / "config.yaml"
    config.write_text(
        f'http_addr: "127.0.0.1:{free_port()}"\n'
        "auth:\n  enforce: true\n"
        f'storage:\n  type: "filesystem"\n  path: "{workdir / "fs"}"\n'
    )
    proc = subprocess.run(
        [str(binary), "-c", str(config), "run"],
        cwd=workdir,
        capture_output=True,
        timeout=20,
    )
    assert proc.returncode != 0


def test_cli_version(objectstore_bin) -> None:
    proc = subprocess.run(
        [str(objectstore_bin), "version"], capture_output=True, timeout=20, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith("objectstore@"), proc.stdout


def test_cli_healthcheck(server_factory, objectstore_bin) -> None:
    server = server_factory()
    command = [str(objectstore_bin), "-c", str(server.config_path), "healthcheck"]
    ok = subprocess.run(command, capture_output=True, timeout=20, cwd=server.workdir)
    assert ok.returncode == 0, ok.stderr
    server.stop_checked()
    down = subprocess.run(command, capture_output=True, timeout=20, cwd=server.workdir)
    assert down.returncode != 0


def test_health_answers_while_busy(server_factory) -> None:
    server = server_factory()
    conn = chunked_put(server, "busy")
    try:
        conn.send(b"4\r\nbusy\r\n")
        health = raw_request(server.url, "GET", "/health", timeout=5)
        assert health.status == 200
        conn.send(b"0\r\n\r\n")
        response = conn.getresponse()
        response.read()
        assert response.status == 200
    finally:
        conn.close()
