"""A throwaway PostgreSQL server from Debian's packages, for the tests and benchmarks.

``initdb`` and ``pg_ctl`` from ``/usr/lib/postgresql/*/bin`` make a cluster in a temporary
directory, listening on 127.0.0.1 at a free port with a socket in that directory. PostgreSQL
refuses to run as root, so as root the cluster belongs to the ``postgres`` system user (made by
the Debian package) and the commands run through ``runuser``. :func:`unavailable_reason` says
why this cannot work here, in one line, so tests can skip with it.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]), reverse=True)
    return Path(found[0]).parent if found else None


def _run_as() -> list[str]:
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


def unavailable_reason() -> str | None:
    if _bin_dir() is None:
        return "PostgreSQL is not installed (Debian package 'postgresql'; scripts/bootstrap.sh installs it)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
        if shutil.which("runuser") is None:
            return "running as root and 'runuser' is missing"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TempPostgres:
    """``with TempPostgres() as pg: pg.url`` — a fresh cluster with a ``turnero`` database."""

    def __init__(self, durable: bool = False):
        """``durable=False`` turns fsync off (fast tests); benchmarks keep it on to be fair to SQLite."""
        self.durable = durable
        self.bin = _bin_dir()
        # As root the server runs as 'postgres', which must reach the directory: /tmp, not $TMPDIR.
        parent = "/tmp" if os.geteuid() == 0 and os.path.isdir("/tmp") else None
        self.dir = Path(tempfile.mkdtemp(prefix="turnero-pg-", dir=parent))
        self.data = self.dir / "data"
        self.port = _free_port()
        self.url = f"postgresql://turnero@127.0.0.1:{self.port}/turnero"
        self._started = False

    def _cmd(self, *args, **kwargs):
        return subprocess.run([*_run_as(), *args], check=True, capture_output=True, text=True, timeout=120,
                              **kwargs)

    def start(self) -> "TempPostgres":
        reason = unavailable_reason()
        if reason:
            raise RuntimeError(reason)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        os.chmod(self.dir, 0o700)
        self._cmd(str(self.bin / "initdb"), "-D", str(self.data), "-U", "turnero", "-A", "trust", "-E", "UTF8",
                  "--no-sync", "--no-instructions")
        options = f"-h 127.0.0.1 -p {self.port} -k {self.dir} -c max_connections=200"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off"
        self._cmd(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-o", options,
                  "-w", "-t", "60", "start")
        self._started = True
        import psycopg

        deadline = time.time() + 30
        while True:
            try:
                with psycopg.connect(f"postgresql://turnero@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
                    conn.execute("CREATE DATABASE turnero")
                break
            except psycopg.OperationalError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        return self

    def stop(self):
        if self._started:
            try:
                self._cmd(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
            except subprocess.SubprocessError:
                pass
            self._started = False
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
