"""The runtime: embedded PostgreSQL and Redis (idempotent start, stop, restart, crash recovery) and
README command one, `./run start`, end to end: serves the login page, the demo logins work, and
`./run stop` leaves no process behind."""

from __future__ import annotations

import http.cookiejar
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import ModuleType

import psutil
import psycopg2
import pytest
import redis
from django.conf import settings

from mso_platform import embedded
from tenants.demo import DEMO_NAME, DEMO_PASSWORD

ROOT = Path(__file__).resolve().parent.parent


def _load_run_script() -> ModuleType:
    loader = SourceFileLoader("mso_run_script", str(ROOT / "run"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _socket_of(url: str) -> str:
    return url.removeprefix("redis+socket://")


def _ping(url: str) -> bool:
    try:
        return bool(redis.Redis(unix_socket_path=_socket_of(url), socket_timeout=2).ping())
    except (redis.RedisError, OSError):
        return False


def _pg_select_one(url: str) -> int:
    conn = psycopg2.connect(dbname=embedded.DB_NAME, user="postgres", host=url.split("host=", 1)[1])
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            row = cur.fetchone()
            assert row is not None
            return int(row[0])
    finally:
        conn.close()


def _kill_and_wait(pid: int) -> None:
    proc = psutil.Process(pid)
    proc.kill()
    proc.wait(10)


# --- The shared servers the suite runs on (reused, never stopped here) -----------------------------


def test_embedded_postgres_start_is_idempotent() -> None:
    if not embedded.postgres_running() or not settings.DATABASE_URL.startswith("postgres://postgres@/"):
        pytest.skip("the suite runs on a configured DATABASE_URL, not the embedded PostgreSQL")
    first = embedded.postgres_url()
    second = embedded.postgres_url()
    assert first == second == settings.DATABASE_URL
    assert "host=/" in first  # a Unix socket folder: nothing listens on the network
    assert _pg_select_one(first) == 1


def test_embedded_redis_start_is_idempotent_and_configured_for_celery() -> None:
    if not settings.REDIS_URL.startswith("redis+socket://"):
        pytest.skip("the suite runs on a configured REDIS_URL, not the embedded Redis")
    first = embedded.redis_url()
    assert embedded.redis_url() == first == settings.REDIS_URL
    client = redis.Redis(unix_socket_path=_socket_of(first), socket_timeout=2)
    assert client.ping() is True
    # A queued task must never be evicted, and must survive a Redis restart.
    assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert client.config_get("port") == {"port": "0"}


# --- Servers of a folder of this test's own --------------------------------------------------------


@pytest.fixture
def own_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    # Deep enough that neither socket fits under the folder (Unix socket paths stop at ~107 bytes).
    deep = tmp_path / ("deep-" * 12) / ("nested-" * 8)
    monkeypatch.setenv("MSO_DATA_DIR", str(deep))
    yield deep
    embedded.stop_all()


def test_redis_stops_restarts_and_recovers_from_a_crash(own_data_dir: Path) -> None:
    url = embedded.redis_url()
    assert len(_socket_of(url)) <= embedded.MAX_SOCKET_PATH  # moved to a short folder
    assert _ping(url)
    redis.Redis(unix_socket_path=_socket_of(url)).set("kept", "1")

    embedded.stop_redis()
    assert not embedded.redis_running()
    assert not (own_data_dir / "redis" / "redis.pid").exists()
    assert not Path(_socket_of(url)).parent.exists()  # the short socket folder is cleaned up

    assert embedded.redis_url() == url
    assert redis.Redis(unix_socket_path=_socket_of(url)).get("kept") == b"1"  # the AOF kept it

    pid = int((own_data_dir / "redis" / "redis.pid").read_text())
    _kill_and_wait(pid)
    assert not embedded.redis_running()
    assert embedded.redis_url() == url
    assert _ping(url)


def test_postgres_stops_restarts_and_recovers_from_a_stale_pid_file(own_data_dir: Path) -> None:
    pg = own_data_dir / "pg"
    url = embedded.postgres_url()
    assert embedded.postgres_url() == url
    assert len(url.split("host=", 1)[1]) < len(str(pg))  # socket moved out of the deep folder
    assert _pg_select_one(url) == 1

    # A crash: the postmaster dies, postmaster.pid stays behind, and (as after a reboot) its pid
    # now belongs to another live process: this very test.
    pid = int((pg / "postmaster.pid").read_text().splitlines()[0])
    _kill_and_wait(pid)
    lines = (pg / "postmaster.pid").read_text().splitlines()
    (pg / "postmaster.pid").write_text("\n".join([str(os.getpid()), *lines[1:]]) + "\n")
    assert not embedded.postgres_running()

    assert embedded.postgres_url() == url
    assert _pg_select_one(url) == 1

    embedded.stop_postgres()
    assert not embedded.postgres_running()
    assert not (pg / "postmaster.pid").exists()
    embedded.stop_postgres()  # stopping a stopped server is fine

    assert embedded.postgres_url() == url
    assert _pg_select_one(url) == 1


# --- README command one ----------------------------------------------------------------------------


def test_run_without_a_command_prints_usage() -> None:
    result = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(ROOT / "run")], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 2
    assert "./run start" in result.stderr
    assert "./run test" in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _processes_of(data_dir: Path) -> list[str]:
    """Live processes started for this data folder (they all inherit MSO_DATA_DIR)."""
    found = []
    for proc in psutil.process_iter(["pid", "name", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get("MSO_DATA_DIR") == str(data_dir):
                found.append(f"{proc.info['pid']} {' '.join(proc.cmdline())}")
        except psutil.Error:
            continue
    return found


def test_run_start_serves_the_login_page_and_run_stop_ends_everything(tmp_path: Path) -> None:
    run_script = _load_run_script()
    if not run_script.STAMP.exists() or run_script.STAMP.read_text().strip() != run_script._install_stamp():
        pytest.skip(".venv was not installed by ./run (the test would reinstall it); use ./run test")
    data_dir = tmp_path / "data"
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(MSO_DATA_DIR=str(data_dir), PORT=str(port))
    proc = subprocess.Popen(  # noqa: S603 - our own script
        [str(ROOT / "run"), "start"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            if "MSO Platform is running at" in line:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 180
        while not ready.is_set() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ready.is_set(), "./run start did not come up:\n" + "".join(output)
        text = "".join(output)
        assert DEMO_PASSWORD in text and "admin@goldencoast.example" in text  # the logins are printed

        base = f"http://127.0.0.1:{port}"
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )
        with opener.open(f"{base}/login/", timeout=30) as response:
            assert response.status == 200
            page = response.read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert token, page
        form = {"username": "admin@goldencoast.example", "password": DEMO_PASSWORD}
        form["csrfmiddlewaretoken"] = token.group(1)
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(f"{base}/login/", data=urllib.parse.urlencode(form).encode(), timeout=30)
        assert redirect.value.code == 302, redirect.value.read().decode()
        with opener.open(f"{base}/", timeout=30) as response:
            assert response.status == 200
            assert DEMO_NAME in response.read().decode()  # signed in: the tenant picker lists the demo

        stop = subprocess.run(  # noqa: S603 - our own script
            [str(ROOT / "run"), "stop"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
        )
        assert stop.returncode == 0, stop.stdout + stop.stderr
        assert proc.wait(timeout=120) == 0, "".join(output)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=120)
        reader.join(timeout=10)
        leftovers = _processes_of(data_dir)
        if leftovers:  # never leave servers behind, even when the test fails
            for line in leftovers:
                with_pid = int(line.split()[0])
                if psutil.pid_exists(with_pid):
                    os.kill(with_pid, signal.SIGKILL)
    assert leftovers == []
    text = "".join(output)
    for name in ("web", "worker", "beat"):
        assert f"Starting {name}:" in text and f"Stopping {name}" in text
