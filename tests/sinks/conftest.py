"""Fixtures of the sink tests: real services on loopback, started once per session.

PostgreSQL and Mosquitto run as private instances on free ports. When their
binaries are missing the fixtures FAIL (never skip): `make test` installs them
through scripts/system-deps.sh.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sinkkit import INSTALL_HINT, Broker, Receiver, free_port


# -- PostgreSQL ------------------------------------------------------------------------------
def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        pytest.fail(f"PostgreSQL's {name} is not installed: {INSTALL_HINT}", pytrace=False)
    return found[-1]


class PostgresServer:
    """A private PostgreSQL cluster on a free loopback port, run as a non-root user; can be stopped and restarted."""

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        root = os.geteuid() == 0
        user = "postgres" if root else None
        if root:
            try:
                import pwd

                pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail(f"no 'postgres' user to run the test database as: {INSTALL_HINT}", pytrace=False)
        self.base = Path(tempfile.mkdtemp(prefix="segflow-pg-"))
        self.data = self.base / "data"
        if root:
            shutil.chown(self.base, user)
        self.prefix = ["runuser", "-u", user, "--"] if root else []
        self.port = free_port()
        subprocess.run(
            [*self.prefix, self.initdb, "-D", str(self.data), "-A", "trust", "-U", "segflow", "--no-sync"],
            check=True,
            capture_output=True,
        )
        self.url = f"postgresql+psycopg2://segflow@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        subprocess.run(
            [
                *self.prefix,
                self.pg_ctl,
                "-D",
                str(self.data),
                "-l",
                str(self.base / "log.txt"),
                "-w",
                "-t",
                "60",
                "-o",
                f"-h 127.0.0.1 -p {self.port} -k {self.base} -F",
                "start",
            ],
            check=True,
            capture_output=True,
        )

    def stop(self, mode: str = "immediate") -> None:
        subprocess.run([*self.prefix, self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop"],
                       capture_output=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    return postgres_server.url


@pytest.fixture(scope="session")
def broker() -> Iterator[Broker]:
    folder = Path(tempfile.mkdtemp(prefix="segflow-mqtt-"))
    b = Broker(free_port(), folder)
    b.start()
    try:
        yield b
    finally:
        b.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.stop()
