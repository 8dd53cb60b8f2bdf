"""A throwaway PostgreSQL server for the tests: its own cluster in a temporary folder, on a free
port, with a fresh database for each test that asks."""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

# The Debian package's layout; elsewhere, pg_ctl on the PATH.
DEBIAN_BINARIES = "/usr/lib/postgresql/*/bin"

both_backends = pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
"""`pytestmark = both_backends`: each test of the module runs on SQLite and on PostgreSQL."""


def find_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl, newest version first; None when not installed."""
    folders = sorted(glob.glob(DEBIAN_BINARIES), key=_version, reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        folders.append(str(Path(on_path).parent))
    for folder in map(Path, folders):
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _version(folder: str) -> int:
    name = Path(folder).parent.name
    return int(name) if name.isdigit() else 0


class PostgresServer:
    """initdb + pg_ctl start in a temporary folder; `stop()` removes it all.

    initdb and pg_ctl refuse to run as root: as root they run as the `postgres` user.
    """

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.folder = Path(tempfile.mkdtemp(prefix="voxgram-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self._names = itertools.count(1)
        self._admin: psycopg.Connection[tuple[object, ...]] | None = None

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync")
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        log = self.folder / "server.log"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(log), "-w", "start")
        self._admin = psycopg.connect(self.url("postgres"), autocommit=True)

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def restart(self) -> None:
        """Stop the server (its connections cut at once) and start it again on the same port.
        Fast, not immediate: with synchronous_commit off a crash would lose committed rows."""
        if self._admin is not None:
            self._admin.close()
        log = str(self.folder / "server.log")  # else the server holds our pipes open
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-l", log, "-w", "restart")
        self._admin = psycopg.connect(self.url("postgres"), autocommit=True)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        assert self._admin is not None, "server not started"
        name = f"test_{next(self._names)}"
        self._admin.execute(f"CREATE DATABASE {name} TEMPLATE template0")
        return self.url(name)

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.binaries / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stderr.strip() or done.stdout.strip()}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
