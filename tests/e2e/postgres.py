"""A throwaway PostgreSQL server on loopback, for loading into with target-postgres.

The server is a real one (the machine's `initdb` and `postgres`), in a temporary folder, on a free
port of 127.0.0.1, with durability off (fsync) because nothing in it has to survive the tests.
Where the server programs are missing, `scripts/install-postgres.sh` installs them (apt-get, as
root); only where that cannot work do the PostgreSQL tests skip, saying why.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = ROOT / "scripts" / "install-postgres.sh"
SUPERUSER = "postgres"
_START_TIMEOUT_SECONDS = 30
_STOP_TIMEOUT_SECONDS = 15


class Unavailable(Exception):
    """PostgreSQL cannot be run here (the message says why): the tests that need it skip."""


def server_programs() -> Path | None:
    """The folder holding `initdb` and `postgres`: on PATH, else Debian's newest version."""
    on_path = shutil.which("initdb")
    debian = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    newest_first = sorted(debian, key=lambda path: int(re.sub(r"\D", "", path)), reverse=True)
    for candidate in ([on_path] if on_path else []) + newest_first:
        folder = Path(candidate).resolve().parent  # /usr/local/bin/initdb may be a symlink
        if (folder / "postgres").exists():
            return folder
    return None


def ensure_server_programs() -> Path:
    """The server programs' folder, installing them first where they are missing."""
    folder = server_programs()
    if folder is not None:
        return folder
    result = subprocess.run(
        ["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=900, check=False
    )
    folder = server_programs()
    if folder is None:
        lines = (result.stdout + result.stderr).strip().splitlines() or ["(no output)"]
        raise Unavailable(f"PostgreSQL cannot be installed here: {lines[-1]}")
    return folder


def free_port() -> int:
    # PostgreSQL cannot be told "any free port", so ask the kernel for one and hand it over. Another
    # process could take it in between: `start` then fails and the caller tries another.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class _RunAs:
    """Who runs the server: initdb refuses root, so as root it is the unprivileged `postgres`."""

    uid: int | None = None
    gid: int | None = None

    @classmethod
    def for_this_process(cls) -> _RunAs:
        if os.geteuid() != 0:
            return cls()
        try:
            account = pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise Unavailable(
                f"running as root and there is no '{SUPERUSER}' user to run PostgreSQL as"
            ) from None
        return cls(account.pw_uid, account.pw_gid)

    @property
    def extra_groups(self) -> list[int] | None:
        return None if self.uid is None else []  # as `postgres`, drop root's other groups too

    def own(self, path: Path) -> None:
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)


class PostgresServer:
    """One server; `with PostgresServer.started() as server:` stops it and deletes its files."""

    def __init__(self, programs: Path, folder: Path, port: int, run_as: _RunAs) -> None:
        self.programs = programs
        self.folder = folder
        self.port = port
        self.host = "127.0.0.1"
        self._run_as = run_as
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    @contextlib.contextmanager
    def started(cls, attempts: int = 3) -> Iterator[PostgresServer]:
        programs = ensure_server_programs()
        run_as = _RunAs.for_this_process()
        # Not under pytest's tmp_path: that is private to root, and the server runs as `postgres`.
        folder = Path(tempfile.mkdtemp(prefix="tap-aphex-postgres-"))
        run_as.own(folder)
        server = cls(programs, folder, free_port(), run_as)
        try:
            server._initdb()
            for attempt in range(attempts):
                if server._start():
                    break
                if attempt == attempts - 1:
                    raise RuntimeError(f"PostgreSQL did not start:\n{server.log_tail()}")
                server.port = free_port()
            yield server
        finally:
            server.stop()
            shutil.rmtree(folder, ignore_errors=True)

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return "(no server log)"

    def _initdb(self) -> None:
        subprocess.run(
            [
                str(self.programs / "initdb"),
                f"--pgdata={self.data}",
                f"--username={SUPERUSER}",
                "--auth=trust",  # loopback only, and gone after the tests
                "--encoding=UTF8",
                "--no-sync",
            ],
            cwd=self.folder,
            capture_output=True,
            check=True,
            timeout=120,
            user=self._run_as.uid,
            group=self._run_as.gid,
            extra_groups=self._run_as.extra_groups,
        )

    def _start(self) -> bool:
        """Start on `self.port`; False if the server exited (e.g. the port was taken meanwhile)."""
        with self.log.open("ab") as log:
            self._run_as.own(self.log)
            self._process = subprocess.Popen(
                [
                    str(self.programs / "postgres"),
                    "-D",
                    str(self.data),
                    "-h",
                    self.host,
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.folder),  # its Unix socket too stays in the temporary folder
                    "-c",
                    "fsync=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "synchronous_commit=off",
                ],
                cwd=self.folder,
                stdout=log,
                stderr=subprocess.STDOUT,
                user=self._run_as.uid,
                group=self._run_as.gid,
                extra_groups=self._run_as.extra_groups,
            )
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                return False
            try:
                with psycopg.connect(self.url("postgres"), connect_timeout=2):
                    return True
            except psycopg.OperationalError:
                time.sleep(0.1)
        self.stop()
        return False

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)  # "fast shutdown": ends sessions, no waiting
        try:
            process.wait(_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def url(self, database: str, driver: str = "postgresql") -> str:
        return f"{driver}://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new, empty database; returns its name."""
        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return name
