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


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A private PostgreSQL cluster on a free loopback port, run as a non-root user."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    root = os.geteuid() == 0
    user = "postgres" if root else None
    if root:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail(f"no 'postgres' user to run the test database as: {INSTALL_HINT}", pytrace=False)
    base = Path(tempfile.mkdtemp(prefix="segflow-pg-"))
    data = base / "data"
    if root:
        shutil.chown(base, user)
    prefix = ["runuser", "-u", user, "--"] if root else []
    port = free_port()
    subprocess.run(
        [*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "segflow", "--no-sync"],
        check=True,
        capture_output=True,
    )
    log = base / "log.txt"
    subprocess.run(
        [
            *prefix,
            pg_ctl,
            "-D",
            str(data),
            "-l",
            str(log),
            "-w",
            "-t",
            "60",
            "-o",
            f"-h 127.0.0.1 -p {port} -k {base} -F",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg2://segflow@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


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
