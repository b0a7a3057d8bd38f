"""A throwaway PostgreSQL cluster for the tests and benchmarks: initdb into a temporary
directory, ``pg_ctl start`` on a free loopback port, ``stop``/``remove`` when done.

It is a test peer, not a production setting: ``fsync=off`` (and ``initdb --no-sync``) trade
crash safety for speed, which is what a cluster that lives for one test run wants. As root it
runs the server as the ``postgres`` user (PostgreSQL refuses to run as root).

Stands alone: it imports nothing else of outbound.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text

#: The server settings every throwaway cluster starts with (``-c name=value``).
BASE_SETTINGS: Mapping[str, str] = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "max_connections": "300",
}


def pg_bindir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are (the newest Debian cluster version, else PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def as_postgres(cmd: list[str]) -> list[str]:
    """``cmd`` run as the ``postgres`` user when we are root (initdb and postgres refuse root)."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass
class PgServer:
    port: int
    admin_url: str

    def new_database(self, template: str | None = None) -> str:
        """A new, empty database (or a copy of ``template``); returns its URL."""
        name = "t_" + uuid.uuid4().hex[:12]
        copy = f' TEMPLATE "{template}"' if template else ""
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
        finally:
            engine.dispose()
        return self.url(name)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


class PgCluster(PgServer):
    """A cluster of our own: initdb into a temp dir, pg_ctl start/stop on a free loopback port.

    ``settings`` are added to (or override) ``BASE_SETTINGS``, e.g.
    ``{"shared_preload_libraries": "pg_stat_statements"}``.
    """

    def __init__(self, bindir: Path, settings: Mapping[str, str] | None = None) -> None:
        self.bindir = bindir
        self.settings = {**BASE_SETTINGS, **(settings or {})}
        self.base = Path(tempfile.mkdtemp(prefix="outbound-pg-"))
        self.base.chmod(0o755)
        self.data = self.base / "data"
        self.data.mkdir()
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.base, user.pw_uid, user.pw_gid)
            os.chown(self.data, user.pw_uid, user.pw_gid)
        port = free_port()
        super().__init__(port, f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres")
        init = ["-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]
        self._run("initdb", *init)

    def _run(self, tool: str, *args: str, check: bool = True) -> None:
        subprocess.run(
            as_postgres([str(self.bindir / tool), *args]), check=check, capture_output=True
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.base} " + " ".join(
            f"-c {name}={value}" for name, value in self.settings.items()
        )
        log = str(self.base / "log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def start_cluster(settings: Mapping[str, str] | None = None) -> PgCluster:
    """A new, started cluster; ``LookupError`` (with the fix) when PostgreSQL is not installed."""
    bindir = pg_bindir()
    if bindir is None:
        raise LookupError(
            "PostgreSQL server binaries (initdb, pg_ctl) not found; apt-get install postgresql"
        )
    cluster = PgCluster(bindir, settings)
    try:
        cluster.start()
    except BaseException:
        cluster.remove()
        raise
    return cluster
