"""Fixtures: real `objectstore` server processes and official-client sessions.

* `server` / `server_url`: one server per test module and storage kind. The fixture
  is parametrized over STORAGE_KINDS, so every test that uses it runs against the
  tiered storage (embedded high-volume + filesystem long-term) and against plain
  filesystem storage.
* `tiered_server_url`: one tiered server per module, for tests that need only one.
* `server_factory`: start servers with a custom configuration inside a test
  (extra config keys, auth keys, environment); all are stopped at teardown.

Every server is stopped with SIGINT at teardown, and the teardown fails unless it
exits with code 0 within 10 seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from objectstore_client import Client, Session, Usecase

from support import (
    USECASE,
    BinaryMissing,
    ServerProcess,
    launch,
    require_binary,
    make_client,
    scope_path,
    unique_id,
)

STORAGE_KINDS = ("tiered", "filesystem")


@pytest.fixture(scope="session")
def objectstore_bin() -> Path:
    """The server binary (OBJECTSTORE_BIN or target/debug/objectstore); fails clearly if missing."""
    try:
        return require_binary()
    except BinaryMissing as error:
        message = str(error)
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="module", params=STORAGE_KINDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    srv = launch(tmp_path_factory.mktemp(f"server-{request.param}"), storage=request.param)
    yield srv
    srv.stop_checked()


@pytest.fixture(scope="module")
def server_url(server: ServerProcess) -> str:
    return server.url


@pytest.fixture(scope="module")
def tiered_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = launch(tmp_path_factory.mktemp("server-tiered"), storage="tiered")
    yield srv
    srv.stop_checked()


@pytest.fixture(scope="module")
def tiered_server_url(tiered_server: ServerProcess) -> str:
    return tiered_server.url


ServerFactory = Callable[..., ServerProcess]


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start servers with custom configuration: factory(storage=, auth=, extra=, env=)."""
    started: list[ServerProcess] = []

    def factory(
        *,
        storage: str = "tiered",
        auth: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ServerProcess:
        workdir = tmp_path / f"server-{len(started)}"
        srv = launch(workdir, storage=storage, auth=auth, extra=extra, env=env)
        started.append(srv)
        return srv

    yield factory

    problems = []
    for srv in started:
        if srv.proc is None:
            continue  # stopped (and checked) by the test itself
        try:
            srv.stop_checked()
        except AssertionError as error:
            problems.append(str(error))
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


# -- official client objects ----------------------------------------------------------


@pytest.fixture
def client(server_url: str) -> Client:
    return make_client(server_url)


@pytest.fixture
def scope_id() -> str:
    """A scope value unique to the test, so tests sharing a server never collide."""
    return unique_id()


@pytest.fixture
def scopes(scope_id: str) -> str:
    """The scopes path segment of `session` / `raw_session`, for raw HTTP requests."""
    return scope_path(org=42, test=scope_id)


@pytest.fixture
def session(client: Client, scope_id: str) -> Session:
    """Session with the client defaults (zstd compression, no expiration policy)."""
    return client.session(Usecase(USECASE), org=42, test=scope_id)


@pytest.fixture
def raw_session(client: Client, scope_id: str) -> Session:
    """Same namespace as `session`, but uploads are sent uncompressed by default."""
    return client.session(Usecase(USECASE, compression="none"), org=42, test=scope_id)
