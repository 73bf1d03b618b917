"""A local PostgreSQL cluster in a folder of the project, for `make run`, the tests and the benchmarks.

PostgreSQL refuses to run as root, so when we are root the cluster is owned by and run as an unprivileged
user (``postgres`` if it exists, else ``nobody``). The server listens on 127.0.0.1 only.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found. Install them with "
    "'apt-get install postgresql' (Debian/Ubuntu) or 'brew install postgresql@15' (macOS), or use "
    "'docker compose up' instead (see README)."
)


class LocalPostgresError(RuntimeError):
    pass


def find_pg_bindir() -> Path:
    """The folder holding initdb/pg_ctl/postgres: PATH first, then the usual Debian location."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl") and shutil.which("postgres"):
        return Path(os.path.realpath(on_path)).parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if all(Path(candidate, b).exists() for b in ("initdb", "pg_ctl", "postgres")):
            return Path(candidate)
    raise LocalPostgresError(INSTALL_HINT)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_user() -> str | None:
    """The user to run PostgreSQL as, or None to run as ourselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise LocalPostgresError("running as root and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL")


@dataclass
class LocalPostgres:
    """A PostgreSQL cluster in ``datadir``, listening on 127.0.0.1:``port``, superuser ``user``."""

    datadir: Path
    port: int
    user: str = "cryptoflow"

    def __post_init__(self) -> None:
        self.datadir = Path(self.datadir).resolve()
        self.socket_dir = self.datadir / "sock"
        self.logfile = self.datadir.parent / f"{self.datadir.name}.log"

    # -- commands run as the server user -------------------------------------------------------------------------
    def _run(self, args: list[str], check: bool = True, capture: bool = True) -> subprocess.CompletedProcess:
        bindir = find_pg_bindir()
        cmd = [str(bindir / args[0]), *args[1:]]
        run_as = _server_user()
        if run_as:
            cmd = ["runuser", "-u", run_as, "--", *cmd]
        result = subprocess.run(cmd, capture_output=capture, text=True, cwd="/")
        if check and result.returncode != 0:
            raise LocalPostgresError(f"{' '.join(args[:2])} failed: {(result.stderr or result.stdout).strip()}")
        return result

    def _hand_over(self, path: Path) -> None:
        run_as = _server_user()
        if run_as:
            pw = pwd.getpwnam(run_as)
            for p in [path, *path.rglob("*")]:
                os.chown(p, pw.pw_uid, pw.pw_gid)
            # the server user must be able to reach the folder
            parent = path.parent
            while parent != parent.parent:
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)
                parent = parent.parent

    @property
    def initialized(self) -> bool:
        return (self.datadir / "PG_VERSION").exists()

    @property
    def running(self) -> bool:
        if not self.initialized:
            return False
        return self._run(["pg_ctl", "status", "-D", str(self.datadir)], check=False).returncode == 0

    def init(self) -> None:
        if self.initialized:
            return
        self.datadir.mkdir(parents=True, exist_ok=True)
        self._hand_over(self.datadir)
        self._run(["initdb", "-D", str(self.datadir), "-U", self.user, "--auth=trust", "-E", "UTF8",
                   "--locale=C", "--no-sync"])
        self.socket_dir.mkdir(exist_ok=True)
        with open(self.datadir / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# cryptoflow local cluster\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                "max_connections = 200\n"
                "shared_buffers = 256MB\n"
                "fsync = on\n"
            )
        self._hand_over(self.datadir)

    def start(self, fast: bool = False) -> None:
        """Start the server; ``fast`` trades durability for speed (throwaway test clusters)."""
        if self.running:
            return
        if not port_is_free(self.port):
            raise LocalPostgresError(
                f"port {self.port} is already in use: stop whatever listens there, or set WAREHOUSE_PG_PORT in .env "
                "to a free port")
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        self.logfile.touch()
        self._hand_over(self.logfile)
        opts = f"-p {self.port}"
        if fast:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        result = self._run(["pg_ctl", "start", "-w", "-t", "60", "-D", str(self.datadir), "-l", str(self.logfile),
                            "-o", opts], check=False)
        if result.returncode != 0:
            tail = self.logfile.read_text(errors="replace")[-2000:]
            raise LocalPostgresError(f"PostgreSQL did not start (log {self.logfile}):\n{tail}")

    def stop(self) -> None:
        if self.running:
            self._run(["pg_ctl", "stop", "-m", "fast", "-w", "-D", str(self.datadir)])

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.datadir, ignore_errors=True)
        self.logfile.unlink(missing_ok=True)

    # -- databases -------------------------------------------------------------------------------------------------
    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')

    def wait_ready(self, timeout: float = 30) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.dsn(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
