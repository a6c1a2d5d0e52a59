"""Fixtures: a real backend per database kind, accounts, agents."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.servers import Api, ServerProcess, postgres_available, postgres_database, register

BACKENDS = ["sqlite", "postgresql"]
# CI sets this: a missing service is then a failure, not a skip.
REQUIRE_SERVICES = os.environ.get("PRINTERLYNX_REQUIRE_SERVICES") == "1"


def need(service: str, available: bool) -> None:
    """Skip (or, on CI, fail) when a real service the test needs is not running."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{service} is required (PRINTERLYNX_REQUIRE_SERVICES=1) but not running")
    pytest.skip(f"{service} is not running on this machine")


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say which real services the run has."""
    from tests.servers import redis_available

    lines = [
        f"PostgreSQL at 127.0.0.1:5432: {'yes' if postgres_available() else 'NO - its tests are skipped'}"
    ]
    lines.append(f"Redis at 127.0.0.1:6379: {'yes' if redis_available() else 'NO - its tests are skipped'}")
    return lines


@pytest.fixture(scope="session", params=BACKENDS)
def server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """One real backend per database kind for the whole session (tests use fresh accounts)."""
    if request.param == "postgresql":
        need("PostgreSQL", postgres_available())
        with postgres_database() as url:
            process = ServerProcess({"PRINTERLYNX_DATABASE_URL": url}).start()
            yield process
            process.stop()
            process.assert_no_traceback()
    else:
        process = ServerProcess().start()
        yield process
        process.stop()
        process.assert_no_traceback()
        shutil.rmtree(process.data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def sqlite_server() -> Iterator[ServerProcess]:
    """A backend on the embedded default only (for tests that need one kind)."""
    process = ServerProcess().start()
    yield process
    process.stop()
    process.assert_no_traceback()
    shutil.rmtree(process.data_dir, ignore_errors=True)


@pytest.fixture
def api(server: ServerProcess) -> Iterator[Api]:
    """A freshly registered account on ``server``."""
    client = register(server)
    yield client
    client.close()


@pytest.fixture
def other_api(server: ServerProcess) -> Iterator[Api]:
    """A second, unrelated account on the same server."""
    client = register(server)
    yield client
    client.close()
