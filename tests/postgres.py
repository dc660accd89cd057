"""The PostgreSQL server of a test session: $HEDGEBOT_TEST_POSTGRES_URL, or a private one.

Without the variable, a throwaway server is made with the machine's binaries (``initdb`` and
``postgres`` on PATH, or in ``/usr/lib/postgresql/<version>/bin``): a cluster in a temporary
directory, trust authentication, listening on 127.0.0.1 on a free port with its unix socket in
that directory, fsync off. PostgreSQL refuses to run as root, so as root the server runs as the
``postgres`` user when there is one, else as ``nobody``. The server is a child of the test
process that dies with it (parent-death signal), and is stopped and deleted at the end.

Every test gets a database of its own (``CREATE DATABASE``, ~40 ms). On a server given by URL
(which needs the CREATEDB privilege) they are named ``hedgebot_test_<session>_<n>`` and dropped
at the end.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
from sqlalchemy.engine import URL, make_url

URL_ENV = "HEDGEBOT_TEST_POSTGRES_URL"
REQUIRE_ENV = "HEDGEBOT_REQUIRE_POSTGRES"
"""When set (CI), a missing PostgreSQL fails the tests instead of skipping them."""
SEARCH = ("/usr/lib/postgresql/*/bin", "/usr/local/pgsql/bin", "/opt/homebrew/opt/postgresql*/bin")

INITDB_OPTIONS = ("-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync")
SERVER_OPTIONS = (
    *("-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"),
    *("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"),
)


class Unavailable(Exception):
    """No PostgreSQL server can be had: no URL and no binaries."""


def find_binaries() -> Path | None:
    """Return the directory holding ``initdb`` and ``postgres``, newest version first."""
    candidates: list[Path] = []
    found = shutil.which("initdb")
    if found:
        candidates += [Path(found).parent, Path(found).resolve().parent]
    for pattern in SEARCH:
        matches = Path("/").glob(pattern.lstrip("/"))
        candidates += sorted(matches, key=_version, reverse=True)
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "postgres").is_file():
            return directory
    return None


def _version(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", str(path))) or (0,)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGINT)  # PR_SET_PDEATHSIG: fast stop


def _server_user() -> pwd.struct_passwd | None:
    """Return the user to run the server as: None = ourselves (we are not root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise Unavailable("running as root and neither a 'postgres' nor a 'nobody' user exists")


class PostgresServer:
    """A server and the databases made on it for tests."""

    def __init__(self, admin_url: URL, process: subprocess.Popen[bytes] | None = None) -> None:
        """Wrap a running server reachable at ``admin_url`` (a maintenance database)."""
        self.admin_url = admin_url
        self.process = process
        self.directory: Path | None = None
        self._session = secrets.token_hex(3)
        self._count = 0
        self._made: list[str] = []
        self._admin = psycopg.connect(**self._conninfo(admin_url), autocommit=True)

    @staticmethod
    def _conninfo(url: URL) -> dict[str, object]:
        info: dict[str, object] = {"dbname": url.database or "postgres", "connect_timeout": 10}
        for key, value in (
            ("host", url.host),
            ("port", url.port),
            ("user", url.username),
            ("password", url.password),
        ):
            if value is not None:
                info[key] = value
        return info

    @classmethod
    def from_url(cls, url: str) -> PostgresServer:
        """Use the server at ``url`` (``postgresql://`` or ``postgresql+psycopg://``)."""
        return cls(make_url(url).set(drivername="postgresql+psycopg"))

    @classmethod
    def start(cls, binaries: Path) -> PostgresServer:
        """Make a cluster in a temporary directory and start a server on it."""
        user = _server_user()
        base = Path(tempfile.mkdtemp(prefix="hedgebot-pg-"))
        owner: dict[str, object] = {}
        if user is not None:
            os.chown(base, user.pw_uid, user.pw_gid)
            owner = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        try:
            data = base / "data"
            subprocess.run(
                [str(binaries / "initdb"), "-D", str(data), *INITDB_OPTIONS],
                cwd=base,
                check=True,
                capture_output=True,
                **owner,
            )
            command = [str(binaries / "postgres"), "-D", str(data), "-k", str(base)]
            for _attempt in range(3):
                port = _free_port()
                log = base / "postgres.log"
                with log.open("wb") as output:
                    process = subprocess.Popen(
                        [*command, "-p", str(port), *SERVER_OPTIONS],
                        cwd=base,
                        stdout=output,
                        stderr=subprocess.STDOUT,
                        preexec_fn=_die_with_parent,
                        **owner,
                    )
                url = URL.create(
                    "postgresql+psycopg", "postgres", None, "127.0.0.1", port, "postgres"
                )
                if _wait_ready(url, process):
                    server = cls(url, process)
                    server.directory = base
                    return server
                _stop(process)
            raise RuntimeError(f"PostgreSQL did not start:\n{log.read_text(errors='replace')}")
        except subprocess.CalledProcessError as exc:
            shutil.rmtree(base, ignore_errors=True)
            output = (exc.stdout or b"") + (exc.stderr or b"")
            raise RuntimeError(f"initdb failed:\n{output.decode(errors='replace')}") from exc
        except BaseException:
            shutil.rmtree(base, ignore_errors=True)
            raise

    def new_database(self) -> str:
        """Create an empty database; return its SQLAlchemy URL (password included)."""
        self._count += 1
        name = f"hedgebot_test_{self._session}_{self._count}"
        self._admin.execute(f'CREATE DATABASE "{name}"'.encode())
        self._made.append(name)
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def stop(self) -> None:
        """Drop the databases made (on a given server) or stop and delete a private one."""
        if self.process is None:
            for name in self._made:
                with contextlib.suppress(psycopg.Error):
                    self._admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
        self._admin.close()
        if self.process is not None:
            _stop(self.process)
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)


def _wait_ready(url: URL, process: subprocess.Popen[bytes], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    info = PostgresServer._conninfo(url)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False  # e.g. the port was taken meanwhile
        try:
            psycopg.connect(**info).close()
            return True
        except psycopg.OperationalError:
            time.sleep(0.05)
    _stop(process)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)  # fast shutdown: disconnect clients, stop
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGQUIT)  # immediate shutdown
        process.wait(timeout=15)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Yield the session's server; raise `Unavailable` when there is none to be had."""
    url = os.environ.get(URL_ENV)
    if url:
        server = PostgresServer.from_url(url)
    else:
        binaries = find_binaries()
        if binaries is None:
            raise Unavailable(
                "PostgreSQL not found: no initdb/postgres on PATH or in /usr/lib/postgresql/*/bin"
                f" and ${URL_ENV} not set (.ci/run installs PostgreSQL)"
            )
        server = PostgresServer.start(binaries)
    try:
        yield server
    finally:
        server.stop()
