#!/usr/bin/env python3
"""Load benchmark: the web app under gunicorn on loopback, driven by concurrent users for a bounded time.

    .venv/bin/python bench/load.py [--duration 20] [--concurrency 16] [--quick] [--fresh] ...

1. Prepares its own database ``bench_load`` on the embedded PostgreSQL (or on the server of
   DATABASE_URL), migrates it and builds the data set once (bench/dataset.py).
2. Profiles the SQL statements one request of each API endpoint runs (in-process, no load).
3. Starts gunicorn (bench.settings: the product settings with DEBUG off plus the bench-only URLs)
   on 127.0.0.1 at a free port, signs users in, creates API keys for this run.
4. Runs each scenario for --duration seconds with --concurrency users (after a warm-up), then the
   overhead comparison: the product's patient-chart list vs. the same list with no read log vs. a
   bare DRF ListAPIView over the same rows, interleaved in --rounds rounds.
5. Prints a table (requests, errors, req/s, mean/p50/p95/p99 ms) and the overhead ratios.

Exit status: 0, or 1 when any request errored (non-2xx/unexpected status or transport error), 2
when set-up failed, 3 with --enforce-ratio when the overhead is above the target, 130 when
interrupted. The server processes are stopped on every exit (finally + SIGTERM/SIGHUP handlers).
Not part of the test suite: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from bench.dataset import Dataset

VENV_BIN = Path(sys.executable).parent
SETTINGS = "bench.settings"
HOST = "127.0.0.1"  # loopback only
TARGET_RATIO = 1.5
REQUEST_TIMEOUT = 15.0  # seconds; a request slower than this counts as an error
SERVER_READY_TIMEOUT = 90.0
MAX_REQUESTS_PER_USER_PER_SECOND = 2000  # the count bound of every request loop, next to its time bound
PAGE_SIZE = 50


class SetupError(Exception):
    """The benchmark could not be set up (database, server, sign-in): exit 2, no figures."""


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


# --- Database ---------------------------------------------------------------------------------------


def server_url() -> str:
    """DATABASE_URL when given, else the embedded PostgreSQL's (started if needed)."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    from mso_platform import embedded

    return embedded.postgres_url()


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextlib.contextmanager
def admin_connection(url: str) -> Iterator[Any]:
    import psycopg2

    # libpq reads the URL itself, including ?host=<socket folder> of the embedded server.
    conn = psycopg2.connect(
        urlunsplit(urlsplit(with_database(url, "postgres"))._replace(scheme="postgresql"))
    )
    conn.autocommit = True
    try:
        yield conn
    finally:
        conn.close()


def prepare_database(name: str, *, fresh: bool) -> str:
    """Create (or with fresh, recreate) the bench database and migrate it; returns its URL."""
    url = server_url()
    with admin_connection(url) as conn, conn.cursor() as cur:
        if fresh:
            say(f"Dropping database {name}")
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cur.fetchone() is None:
            say(f"Creating database {name}")
            cur.execute(f'CREATE DATABASE "{name}"')
    bench_url = with_database(url, name)
    say(f"Migrating {name}")
    env = {**os.environ, "DATABASE_URL": bench_url, "DJANGO_SETTINGS_MODULE": SETTINGS}
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise SetupError(f"manage.py migrate failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return bench_url


def setup_django(bench_url: str) -> None:
    os.environ["DATABASE_URL"] = bench_url
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    import django

    django.setup()


# --- Server -----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Server:
    """gunicorn in its own session, so stopping it ends its workers too."""

    def __init__(self, *, workers: int, threads: int, port: int, env: dict[str, str], log: Path) -> None:
        self.workers, self.threads, self.port, self.env, self.log = workers, threads, port, env, log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        argv = [
            str(VENV_BIN / "gunicorn"), "mso_platform.wsgi:application",
            "--bind", f"{HOST}:{self.port}",
            "--workers", str(self.workers), "--threads", str(self.threads),
            "--error-logfile", str(self.log), "--log-level", "warning",
            "--timeout", "60", "--graceful-timeout", "5",
            "--no-control-socket",
        ]  # fmt: skip
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, start_new_session=True)  # noqa: S603
        deadline = time.monotonic() + SERVER_READY_TIMEOUT
        with httpx.Client(base_url=self.base_url, timeout=5.0) as client:
            while True:
                if self.proc.poll() is not None:
                    raise SetupError(f"gunicorn exited with {self.proc.returncode}; see {self.log}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get("/login/").status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise SetupError(
                        f"gunicorn did not answer within {SERVER_READY_TIMEOUT:.0f} s; see {self.log}"
                    )
                time.sleep(0.2)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
        # Whatever is left of its session (a worker stuck in a request) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


# --- Clients and sessions ---------------------------------------------------------------------------


def new_client(
    base_url: str, headers: dict[str, str] | None = None, cookies: httpx.Cookies | None = None
) -> httpx.Client:
    return httpx.Client(
        base_url=base_url,
        headers={"Accept": "application/json, text/html", **(headers or {})},
        cookies=cookies,
        timeout=REQUEST_TIMEOUT,
        follow_redirects=False,
    )


def second_factor_path() -> str | None:
    """The product's second-factor page, if it has one."""
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse("two-factor")
    except NoReverseMatch:
        return None


def sign_in(
    base_url: str, email: str, password: str, landing: str, second_factor: Callable[[], str] | None = None
) -> httpx.Client:
    """A browser session: the login form (CSRF cookie and token), the second factor when the capacity
    asks for it (a TOTP code from `second_factor`), then the landing page must answer 200."""
    client = new_client(base_url)
    try:
        form = client.get("/login/")
        if form.status_code != 200 or not client.cookies.get("csrftoken"):
            raise SetupError(f"GET /login/ answered {form.status_code} without a CSRF cookie")
        posted = client.post(
            "/login/",
            data={
                "csrfmiddlewaretoken": client.cookies.get("csrftoken", ""),
                "username": email,
                "password": password,
                "next": landing,
            },
        )
        if posted.status_code != 302:
            raise SetupError(f"signing in {email} answered {posted.status_code}, not a redirect")
        page = client.get(landing)
        check_path = second_factor_path()
        asked = page.status_code == 302 and urlsplit(page.headers.get("location", "")).path == check_path
        if asked and check_path and second_factor is not None:
            if client.get(page.headers["location"]).status_code != 200:
                raise SetupError(f"{email}: the second-factor page did not answer 200")
            verified = client.post(
                check_path,
                data={
                    "csrfmiddlewaretoken": client.cookies.get("csrftoken", ""),
                    "token": second_factor(),
                    "next": landing,
                },
            )
            if verified.status_code != 302:
                raise SetupError(f"{email}: the TOTP code was refused (HTTP {verified.status_code})")
            page = client.get(landing)
        if page.status_code != 200:
            where = page.headers.get("location", "")
            raise SetupError(f"{email}: {landing} answered {page.status_code} {where}".strip())
    except BaseException:
        client.close()
        raise
    return client


def sign_in_all(base_url: str, email: str, password: str, landing: str, count: int) -> list[httpx.Client]:
    """`count` separate sessions of one person (each virtual user keeps its own session cookie)."""
    with ThreadPoolExecutor(max_workers=min(count, 8)) as pool:
        futures = [pool.submit(sign_in, base_url, email, password, landing) for _ in range(count)]
        clients: list[httpx.Client] = []
        failure: BaseException | None = None
        for future in futures:
            try:
                clients.append(future.result(timeout=REQUEST_TIMEOUT * 4))
            except BaseException as exc:
                failure = failure or exc
    if failure is not None:
        for client in clients:
            client.close()
        raise failure
    return clients


def share_session(client: httpx.Client, count: int) -> list[httpx.Client]:
    """`count` clients on one signed-in session (its cookies copied): for a second-factor session,
    which a TOTP code (usable once per 30 s step) can verify only one of at a time."""
    return [new_client(str(client.base_url), cookies=httpx.Cookies(client.cookies)) for _ in range(count)]


# --- Load -------------------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    clients: list[httpx.Client]
    path: Callable[[int, int], str]  # (user, iteration) → path with query
    marker: bytes = b""  # must occur in a successful response body

    def request(self, user: int, iteration: int) -> tuple[bool, str]:
        try:
            response = self.clients[user].get(self.path(user, iteration))
        except httpx.HTTPError as exc:
            return False, type(exc).__name__
        if response.status_code != 200:
            return False, f"HTTP {response.status_code}"
        if self.marker and self.marker not in response.content:
            return False, "unexpected body"
        return True, ""


@dataclass
class Result:
    name: str
    latencies: list[float] = field(default_factory=list)  # seconds, measured requests only
    errors: int = 0  # measured and warm-up requests alike
    error_kinds: Counter[str] = field(default_factory=Counter)
    wall: float = 0.0  # seconds of measurement

    def merge(self, other: Result) -> None:
        self.latencies += other.latencies
        self.errors += other.errors
        self.error_kinds.update(other.error_kinds)
        self.wall += other.wall

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        return self.requests / self.wall if self.wall > 0 else 0.0

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.latencies) * 1000 if self.latencies else math.nan

    def percentile_ms(self, q: float) -> float:
        """Nearest-rank percentile."""
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        rank = max(1, math.ceil(q / 100 * len(ordered)))
        return ordered[min(rank, len(ordered)) - 1] * 1000


STOP = threading.Event()  # set on interrupt: every user loop ends after its current request


def drive(scenario: Scenario, *, duration: float, warmup: float) -> Result:
    """Each user sends requests back to back until the deadline (and at most a bounded count)."""
    users = len(scenario.clients)
    start = time.perf_counter()
    measure_from = start + warmup
    deadline = measure_from + duration
    max_requests = int(MAX_REQUESTS_PER_USER_PER_SECOND * (duration + warmup)) + 1

    def user_loop(user: int) -> tuple[Result, float]:
        mine = Result(scenario.name)
        last_end = measure_from
        for iteration in range(max_requests):
            began = time.perf_counter()
            if began >= deadline or STOP.is_set():
                break
            ok, kind = scenario.request(user, iteration)
            ended = time.perf_counter()
            if not ok:
                mine.errors += 1
                mine.error_kinds[kind] += 1
            elif began >= measure_from:
                mine.latencies.append(ended - began)
            if began >= measure_from:
                last_end = ended
        return mine, last_end

    total = Result(scenario.name)
    ends: list[float] = []
    with ThreadPoolExecutor(max_workers=users, thread_name_prefix="bench-user") as pool:
        futures = [pool.submit(user_loop, user) for user in range(users)]
        try:
            for future in futures:
                budget = max(0.0, deadline - time.perf_counter()) + REQUEST_TIMEOUT + 10
                mine, last_end = future.result(timeout=budget)
                total.merge(mine)
                ends.append(last_end)
        except BaseException:
            STOP.set()
            raise
    total.wall = max(ends, default=deadline) - measure_from
    return total


# --- In-process SQL profile -------------------------------------------------------------------------


@dataclass
class Profile:
    name: str
    statements: Counter[str]
    total_ms: float  # median in-process wall time of one request (Django test client, no load)
    sql_ms: float  # median time spent executing statements, client side (COMMIT not included)
    rows: int | None  # the list's "count": what the endpoint sees

    @property
    def count(self) -> int:  # round trips ("carried" counts some of them a second time)
        return sum(n for kind, n in self.statements.items() if kind != "carried")


def carries_settings(sql: str) -> bool:
    """A round trip whose query has role/settings statements sent in front of it
    (tenants.access.carried_settings): counted by its query, and once in "carried"."""
    return sql.lstrip().upper().startswith("SELECT SET_CONFIG(") and "; " in sql


def statement_kind(sql: str) -> str:
    if carries_settings(sql):
        sql = sql.rsplit("; ", 1)[-1]
    head = sql.lstrip().upper()
    if "SET_CONFIG(" in head[:80] or head.startswith(("SET ", "RESET ")):
        return "role/settings"
    if head.startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")):
        return "transaction"
    for kind in ("SELECT", "INSERT", "UPDATE", "DELETE", "EXECUTE", "PREPARE"):
        if head.startswith(kind):
            return kind.lower()  # execute/prepare: mso_platform.db.prepared
    return "other"


def profile_requests(paths: dict[str, tuple[str, str]], repeat: int) -> list[Profile]:
    """SQL statements and median timings of one request per endpoint, in-process (no server, no load)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    profiles = []
    for name, (path, raw_key) in paths.items():
        client = Client(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
        totals, sqls = [], []
        kinds: Counter[str] = Counter()
        rows: int | None = None
        for i in range(repeat + 2):
            spent = [0.0]

            def timed(
                execute: Any, sql: str, params: Any, many: bool, context: Any, spent: list[float] = spent
            ) -> Any:
                began = time.perf_counter()
                try:
                    return execute(sql, params, many, context)
                finally:
                    spent[0] += time.perf_counter() - began

            with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(timed):
                began = time.perf_counter()
                response = client.get(path, HTTP_ACCEPT="application/json")
                elapsed = time.perf_counter() - began
            if response.status_code != 200:
                raise SetupError(f"profiling {path} answered {response.status_code}")
            rows = response.json().get("count")
            if i < 2:  # the first requests warm caches (content types, permissions, templates)
                continue
            totals.append(elapsed)
            sqls.append(spent[0])
            kinds = Counter(statement_kind(q["sql"]) for q in captured.captured_queries)
            kinds["carried"] = sum(carries_settings(q["sql"]) for q in captured.captured_queries)
        profiles.append(
            Profile(name, kinds, statistics.median(totals) * 1000, statistics.median(sqls) * 1000, rows)
        )
    connection.close()
    return profiles


# --- Report -----------------------------------------------------------------------------------------


def fmt(value: float, digits: int = 1) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def print_table(results: list[Result]) -> None:
    width = max(len(r.name) for r in results) + 2
    header = f"{'scenario':<{width}}{'requests':>9}{'errors':>8}{'req/s':>9}{'mean ms':>9}"
    header += f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.name:<{width}}{r.requests:>9}{r.errors:>8}{fmt(r.throughput):>9}{fmt(r.mean_ms):>9}"
            f"{fmt(r.percentile_ms(50)):>9}{fmt(r.percentile_ms(95)):>9}{fmt(r.percentile_ms(99)):>9}"
        )


def print_profiles(profiles: list[Profile]) -> None:
    kinds = [
        "transaction",
        "role/settings",
        "select",
        "execute",
        "prepare",
        "insert",
        "update",
        "other",
        "carried",
    ]
    width = max(len(p.name) for p in profiles) + 2
    header = f"{'endpoint (1 request, no load)':<{width}}{'stmts':>6}" + "".join(
        f"{k:>{len(k) + 2}}" for k in kinds
    )
    header += f"{'request ms':>12}{'SQL ms':>8}"
    print(header)
    print("-" * len(header))
    for p in profiles:
        cells = "".join(f"{p.statements.get(k, 0):>{len(k) + 2}}" for k in kinds)
        print(f"{p.name:<{width}}{p.count:>6}{cells}{fmt(p.total_ms, 2):>12}{fmt(p.sql_ms, 2):>8}")


# --- Main -------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=None, help="seconds per scenario (default 20)")
    parser.add_argument("--concurrency", type=int, default=None, help="concurrent users (default 16)")
    parser.add_argument("--warmup", type=float, default=None, help="unmeasured seconds first (default 2)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved overhead rounds (default 4)")
    parser.add_argument("--quick", action="store_true", help="3 s per scenario, 4 users, 2 rounds")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (default 4)")
    parser.add_argument("--port", type=int, default=0, help="loopback port (default: a free one)")
    parser.add_argument("--db", default="bench_load", help="bench database name (default bench_load)")
    parser.add_argument("--fresh", action="store_true", help="drop and rebuild the bench database first")
    parser.add_argument(
        "--overhead-only", action="store_true", help="run only the product vs. bare comparison (no pages)"
    )
    parser.add_argument(
        "--enforce-ratio", action="store_true", help=f"exit 3 if the overhead is > {TARGET_RATIO}x"
    )
    args = parser.parse_args(argv)
    quick = {"duration": 3.0, "concurrency": 4, "warmup": 0.5, "rounds": 2}
    full = {"duration": 20.0, "concurrency": 16, "warmup": 2.0, "rounds": 4}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.duration <= 0 or args.concurrency < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--duration, --concurrency and --rounds must be positive, --warmup not negative")
    if args.duration > 600 or args.concurrency > 256:
        parser.error("keep --duration <= 600 s and --concurrency <= 256 (this is a bounded benchmark)")
    if not args.db.replace("_", "").isalnum() or args.db in {"postgres", "mso_platform"}:
        parser.error("--db must be a plain name of a database used only by the benchmark")
    return args


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@dataclass
class Run:
    args: argparse.Namespace
    server: Server | None = None
    dataset: Dataset | None = None
    clients: list[httpx.Client] = field(default_factory=list)
    load_before: float = field(default_factory=lambda: os.getloadavg()[0])  # other work on the machine

    def close(self) -> None:
        STOP.set()
        for client in self.clients:
            with contextlib.suppress(Exception):
                client.close()
        if self.server is not None:
            say("Stopping gunicorn")
            self.server.stop()
        if self.dataset is not None and self.dataset.keys:
            try:
                from bench.dataset import api_keys_revoke

                api_keys_revoke(self.dataset)
            except Exception as exc:
                print(f"bench: revoking this run's API keys failed: {exc!r}", file=sys.stderr)


def benchmark(run: Run) -> int:
    args = run.args
    bench_url = prepare_database(args.db, fresh=args.fresh)
    setup_django(bench_url)
    from bench import dataset as data

    say("Preparing the data set (built once per bench database; --fresh rebuilds it)")
    dataset = data.ensure_dataset(data.Spec())
    run.dataset = dataset
    main = dataset.main
    what = "built" if dataset.built else "reused"
    say(
        f"Data set {what} in {dataset.seconds:.1f} s: {len(dataset.tenants)} tenants x "
        f"({len(main.pc_ids)} PCs, {main.locations} locations, {main.charts} charts, "
        f"{len(main.members)} capacities); "
        f"{dataset.audit_entries} audit entries in the database"
    )
    users = args.concurrency
    members = main.members
    clinical_keys = data.api_keys_create(dataset, members["clinician"], users, "clinician")
    business_keys = data.api_keys_create(dataset, members["mso_compliance"], users, "compliance")
    shared_key = data.api_keys_create(dataset, members["clinician"], 1, "clinician shared")[0]
    pages = max(1, main.clinician_charts // PAGE_SIZE)
    os.environ["BENCH_BARE_TENANT_ID"] = str(main.tenant.pk)
    os.environ["BENCH_BARE_PC_IDS"] = ",".join(main.clinician_pc_ids)

    def chart_page(user: int, iteration: int) -> int:
        return (user * 7 + iteration) % pages + 1

    product_path = "/api/v1/patient-charts/?page_size=50"
    no_log_path = "/bench/no-read-log/patient-charts/?page_size=50"
    bare_path = "/bench/bare/patient-charts/?page_size=50"

    say("Profiling one request per API endpoint in-process (SQL statements, no load)")
    profiles = profile_requests(
        {
            "api patient-charts (product)": (f"{product_path}&page=2", clinical_keys[0]),
            "api patient-charts, no read log": (f"{no_log_path}&page=2", clinical_keys[0]),
            "bare DRF patient-charts": (f"{bare_path}&page=2", clinical_keys[0]),
            "api locations": ("/api/v1/locations/?page_size=50", business_keys[0]),
            "api pcs": ("/api/v1/pcs/", business_keys[0]),
        },
        repeat=20,
    )
    seen = {p.name: p.rows for p in profiles[:3]}
    if len(set(seen.values())) != 1:
        # E.g. a table owner that is not a superuser: FORCE ROW LEVEL SECURITY hides every row from it.
        raise SetupError(f"the compared endpoints do not see the same rows: {seen}")

    log = Path(os.environ.get("MSO_DATA_DIR", ROOT / ".data")) / "bench" / "gunicorn.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "DEBUG": "False",
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        "PYTHONUNBUFFERED": "1",
    }
    run.server = Server(
        workers=args.workers, threads=args.threads, port=args.port or free_port(), env=env, log=log
    )
    say(f"Starting gunicorn ({args.workers} workers x {args.threads} threads) on {HOST}:{run.server.port}")
    run.server.start()
    base = run.server.base_url

    slug = main.tenant.slug
    clinical_api = [new_client(base, {"Authorization": f"Api-Key {k}"}) for k in clinical_keys]
    run.clients += clinical_api
    scenarios: list[Scenario] = []
    clinical_page_note = ""
    if not args.overhead_only:
        say(f"Signing in {users} sessions as mso_compliance, one (with its TOTP code) as clinician")
        business = sign_in_all(base, data.email(slug, "mso_compliance"), data.PASSWORD, f"/t/{slug}/", users)
        run.clients += business
        clinical_pages: list[httpx.Client] = []
        clinician = members["clinician"].user
        device = data.authenticator(clinician)
        try:
            first = sign_in(
                base,
                clinician.email,
                data.PASSWORD,
                f"/t/{slug}/",
                lambda: data.totp_code(device) if device else "",
            )
            run.clients.append(first)
            clinical_pages = share_session(first, users)
            run.clients += clinical_pages
        except SetupError as exc:
            clinical_page_note = f"charts page skipped: the clinician session could not be set up ({exc})"
        anonymous = [new_client(base) for _ in range(users)]
        business_api = [new_client(base, {"Authorization": f"Api-Key {k}"}) for k in business_keys]
        shared_api = [new_client(base, {"Authorization": f"Api-Key {shared_key}"}) for _ in range(users)]
        run.clients += anonymous + business_api + shared_api
        scenarios = main_scenarios(
            slug, chart_page, anonymous, business, clinical_pages, business_api, shared_api, product_path
        )

    overhead = [
        api(
            "api patient-charts (product)",
            clinical_api,
            lambda u, i: f"{product_path}&page={chart_page(u, i)}",
        ),
        api(
            "api patient-charts, no read log",
            clinical_api,
            lambda u, i: f"{no_log_path}&page={chart_page(u, i)}",
        ),
        api("bare DRF patient-charts", clinical_api, lambda u, i: f"{bare_path}&page={chart_page(u, i)}"),
    ]

    results: list[Result] = []
    for scenario in scenarios:
        say(f"{scenario.name}: {args.warmup:g} s warm-up, {args.duration:g} s with {users} users")
        results.append(run_scenario(scenario, args))
    combined = {s.name: Result(s.name) for s in overhead}
    slot = args.duration / args.rounds
    for round_no in range(args.rounds):
        order = overhead[round_no % len(overhead) :] + overhead[: round_no % len(overhead)]
        names = ", ".join(s.name for s in order)
        say(f"overhead round {round_no + 1}/{args.rounds}: {names} ({slot:g} s each)")
        for scenario in order:
            combined[scenario.name].merge(drive(scenario, duration=slot, warmup=min(args.warmup, slot / 4)))
    results += combined.values()

    report(run, results, combined, profiles, pages, clinical_page_note)
    errors = sum(r.errors for r in results)
    ratio_mean = (
        combined["api patient-charts (product)"].mean_ms / combined["bare DRF patient-charts"].mean_ms
    )
    if errors:
        return 1
    if args.enforce_ratio and not ratio_mean <= TARGET_RATIO:
        return 3
    return 0


def api(name: str, clients: list[httpx.Client], path: Callable[[int, int], str]) -> Scenario:
    return Scenario(name, clients, path, b'"results"')


def main_scenarios(
    slug: str,
    chart_page: Callable[[int, int], int],
    anonymous: list[httpx.Client],
    business: list[httpx.Client],
    clinical_pages: list[httpx.Client],
    business_api: list[httpx.Client],
    shared_api: list[httpx.Client],
    product_path: str,
) -> list[Scenario]:
    """Main pages with signed-in sessions and the API lists, each checked for a marker of success."""
    scenarios = [
        Scenario("page GET /login/ (anonymous)", anonymous, lambda u, i: "/login/", b"csrfmiddlewaretoken"),
        Scenario("page dashboard (mso_compliance)", business, lambda u, i: f"/t/{slug}/", b"Locations"),
        Scenario(
            "page locations (mso_compliance)", business, lambda u, i: f"/t/{slug}/locations/", b"Med Spa"
        ),
    ]
    if clinical_pages:
        scenarios.append(
            Scenario(
                "page charts (clinician, 2FA)",
                clinical_pages,
                lambda u, i: f"/t/{slug}/charts/?page={chart_page(u, i)}",
                f"{slug.upper()}-0".encode(),  # a medical record number on the page
            )
        )
    return [
        *scenarios,
        api("api locations (compliance key)", business_api, lambda u, i: "/api/v1/locations/?page_size=50"),
        api("api pcs (compliance key)", business_api, lambda u, i: "/api/v1/pcs/"),
        # One integration key used by every user at once: shows per-key serialization, if any.
        api(
            "api patient-charts, 1 key shared",
            shared_api,
            lambda u, i: f"{product_path}&page={chart_page(u, i)}",
        ),
    ]


def run_scenario(scenario: Scenario, args: argparse.Namespace) -> Result:
    return drive(scenario, duration=args.duration, warmup=args.warmup)


def report(
    run: Run,
    results: list[Result],
    combined: dict[str, Result],
    profiles: list[Profile],
    pages: int,
    note: str,
) -> None:
    args = run.args
    assert run.dataset is not None and run.server is not None
    main = run.dataset.main
    print()
    print(
        f"MSO Platform load benchmark: gunicorn {args.workers} workers x {args.threads} threads on "
        f"{HOST}, {args.concurrency} concurrent users, {args.duration:g} s per scenario after "
        f"{args.warmup:g} s warm-up; {os.cpu_count()} CPUs, load average before the run "
        f"{run.load_before:.2f}"
    )
    print(
        f"data: tenant {main.tenant.slug} of {len(run.dataset.tenants)}: {len(main.pc_ids)} PCs, "
        f"{main.locations} locations, {main.charts} charts; the clinician key sees "
        f"{main.clinician_charts} charts of {len(main.clinician_pc_ids)} PCs ({pages} pages of {PAGE_SIZE})"
    )
    print()
    print_table(results)
    if note:
        print(f"\nnote: {note}")
    kinds = Counter[str]()
    for r in results:
        kinds.update({f"{r.name}: {k}": n for k, n in r.error_kinds.items()})
    if kinds:
        print("\nerrors by kind:")
        for kind, n in kinds.most_common():
            print(f"  {n:>6}  {kind}")
        tail = run.server.log_tail()
        if tail:
            print(f"\ngunicorn error log ({run.server.log}), last lines:\n{tail}")
    product, no_log, bare = (
        combined["api patient-charts (product)"],
        combined["api patient-charts, no read log"],
        combined["bare DRF patient-charts"],
    )
    print()
    print(
        f"Overhead of tenancy, roles and permissions: /api/v1/patient-charts/?page_size=50 (clinical key) vs "
        f"a bare DRF ListAPIView over the same {main.clinician_charts} rows, {args.concurrency} users, "
        f"{args.rounds} interleaved rounds"
    )
    for label, a in (("product", product), ("product without the read log", no_log)):
        mean = a.mean_ms / bare.mean_ms
        p50 = a.percentile_ms(50) / bare.percentile_ms(50)
        verdict = "within" if mean <= TARGET_RATIO else "ABOVE"
        print(
            f"  {label + ' / bare:':<37} mean {mean:.2f}x, p50 {p50:.2f}x, throughput "
            f"{bare.throughput / a.throughput if a.throughput else math.nan:.2f}x lower "
            f"({verdict} target {TARGET_RATIO}x)"
        )
    compared = product.errors + no_log.errors + bare.errors
    everywhere = sum(r.errors for r in results)
    print(f"  errors in the comparison: {compared} (target 0); errors in all scenarios: {everywhere}")
    print()
    print_profiles(profiles)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run = Run(args)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    try:
        return benchmark(run)
    except SetupError as exc:
        print(f"bench: set-up failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        # A second Ctrl-C must not leave gunicorn running.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        run.close()


if __name__ == "__main__":
    sys.exit(main())
