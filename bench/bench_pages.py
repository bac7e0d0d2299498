"""The dashboard and the positions page at 100,000 fills against 10, and the dashboard under 8 clients at once.

Both pages show positions. They used to replay every fill on every request (846 ms p50 for the dashboard at
100,000 fills); they now read the positions table the fills keep (sleeves.models.SleevePosition), so what they
cost should not grow with the fills.

Two throwaway databases, built side by side from the same generator: a small one holding the 10 fills of the
current book (the demo book's five ETFs, a VRP-CS spread, a few trades), and a large one holding the same 10
plus 99,990 earlier fills in the same sleeves and instruments, bought and sold in round trips, so the book held
today is the same in both (the same positions, marks and queries) and only the history behind it differs.

1. ``dashboard`` and ``positions_page``: each page through django.test.Client logged in as a superuser,
   interleaved between the databases, median of RUNS requests after a warm-up; the SQL queries of one request are
   counted on each database and must be equal. Goal: ratio <= 1.3.
2. ``dashboard_concurrent``: the large database served by gunicorn as in Procfile.live (2 workers, DEBUG off,
   collected static files) on a local port. One client requests the dashboard REQUESTS times in a row; then 8
   clients (threads, one keep-alive-free connection per request) request it at once, REQUESTS times each. Goal:
   p95 with 8 clients / p95 with 1 <= 3. The same two measurements on the login page (a page that reads nothing)
   and on a bare Django project's one view, which spends the dashboard's single-client median in CPU, under the
   same gunicorn command are printed beside it: on 2 cores, 8
   clients whose requests are all CPU queue behind 2 workers whatever the page does, so those controls say what
   the server and the machine allow.

    python bench/bench_pages.py

Prints one line per measure; exits 0 even when a goal is missed.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _throwaway import ROOT, clone_default, start_django, use  # noqa: E402

RUNS = 21
GOAL_SIZE = 1.3
GOAL_CONCURRENCY = 3.0
LARGE_FILLS = 100_000
CLIENTS = 8
WARMUP = 20
SECRET_KEY = "bench-only-not-a-secret-" + "x" * 40
REQUESTS = 12  # per client in the concurrent run; the single client makes CLIENTS x REQUESTS / 2
CURRENT = (("VRP_ERP", "SPY", 11, "612.35"), ("DM", "EEM", 220, "47.10"), ("DM", "EFA", 127, "84.20"),
           ("DM", "GLD", 30, "340.50"), ("DM", "SHY", 500, "82.70"))


def populate(history: int) -> None:
    """The current book (10 fills) after ``history`` earlier round-trip fills in the same books."""
    from django.db import transaction

    from dspops.core import clock, vx
    from dspops.core.instruments import vxm_instrument
    from dspops.core.models import Instrument
    from sleeves.models import Fill, FillSource, Side, Sleeve

    sleeves = {s.code: s for s in Sleeve.objects.all()}
    stocks = {i.local_symbol: i for i in Instrument.objects.filter(sec_type="STK")}
    now = clock.now()
    front, second, _ = vx.front_contracts(clock.trading_date(), roll_sessions=5)
    legs = (vxm_instrument(front), vxm_instrument(second))
    books = [(sleeves[code], stocks[symbol]) for code, symbol, _, _ in CURRENT] + [(sleeves["VRP_CS"], leg)
                                                                                 for leg in legs]
    fills = []
    start = now - timedelta(days=5 * 365)
    step = (now - timedelta(days=2) - start) / max(history, 1)
    for j in range(history):  # pairs: BUY then SELL the same quantity, so each book is flat after each pair
        sleeve, instrument = books[(j // 2) % len(books)]
        price = Decimal(15 + (j * 37) % 400) if instrument.sec_type == "STK" else Decimal("17.50") + Decimal(j % 9) / 10
        fills.append(Fill(sleeve=sleeve, instrument=instrument, side=Side.BUY if j % 2 == 0 else Side.SELL,
                          quantity=Decimal(1 + (j // 2) % 5), price=Decimal(price).quantize(Decimal("0.01")),
                          commission=Decimal("1.00"), executed_at=start + step * (j - j % 2) + timedelta(seconds=j % 2),
                          exec_id=f"HIST-{j}", order_ref="bench", source=FillSource.FLEX))
    at = now - timedelta(days=1)
    for code, symbol, quantity, price in CURRENT:
        fills.append(Fill(sleeve=sleeves[code], instrument=stocks[symbol], side=Side.BUY, quantity=Decimal(quantity),
                          price=Decimal(price), commission=Decimal("1.00"), executed_at=at, exec_id=f"NOW-{symbol}",
                          order_ref="bench", source=FillSource.FLEX))
    for leg, side, price in ((legs[0], Side.SELL, "17.45"), (legs[1], Side.BUY, "18.10")):
        fills.append(Fill(sleeve=sleeves["VRP_CS"], instrument=leg, side=side, quantity=Decimal(1), price=Decimal(price),
                          commission=Decimal("1.05"), executed_at=at, exec_id=f"NOW-{leg.local_symbol}",
                          order_ref="bench", source=FillSource.FLEX))
    trades = [(sleeves["VRP_ERP"], stocks["SPY"], Side.BUY, 2, "640.00"),
              (sleeves["VRP_ERP"], stocks["SPY"], Side.SELL, 2, "645.00"), (sleeves["DM"], stocks["EEM"], Side.BUY, 5, "48.00")]
    for k, (sleeve, instrument, side, quantity, price) in enumerate(trades):  # 5 + 2 + 3: the current book's 10 fills
        fills.append(Fill(sleeve=sleeve, instrument=instrument, side=side, quantity=Decimal(quantity),
                          price=Decimal(price), commission=Decimal("1.00"), executed_at=at + timedelta(minutes=k + 1),
                          exec_id=f"NOW-extra-{k}", order_ref="bench", source=FillSource.FLEX))
    with transaction.atomic():
        Fill.objects.bulk_create(fills, batch_size=5000)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def concurrent(url: str, cookie: str) -> tuple[list[float], list[float]]:
    """The request times (seconds) of one client alone, and of CLIENTS clients at once, requesting ``url``."""

    def get() -> float:
        request = urllib.request.Request(url, headers={"Cookie": cookie, "Host": "127.0.0.1"})
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()
            # urlopen follows redirects: a lost session would measure the login page instead.
            assert response.status == 200 and response.geturl() == url, (response.status, response.geturl())
        return time.perf_counter() - started

    for _ in range(WARMUP):  # every worker past its first requests (imports, template and URL caches)
        get()
    alone = [get() for _ in range(CLIENTS * REQUESTS // 2)]

    together: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(CLIENTS)

    def client() -> None:
        barrier.wait()
        for _ in range(REQUESTS):
            elapsed = get()
            with lock:
                together.append(elapsed)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return alone, together


def serve(database: Path, folder: Path) -> tuple[subprocess.Popen, int]:
    """gunicorn as in Procfile.live over a copy of ``database``, on a free port."""
    var = folder / "served"
    var.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(DSPOPS_VAR_DIR=str(var), DSPOPS_DATA_DIR=str(folder / "data"), DSPOPS_STATIC_ROOT=str(folder / "static"),
               DATABASE_URL="", REDIS_URL="", DEBUG="False", SECRET_KEY=SECRET_KEY,
               SECURE_SSL_REDIRECT="False", SESSION_COOKIE_SECURE="False", CSRF_COOKIE_SECURE="False",
               SECURE_HSTS_SECONDS="0", LOG_LEVEL="WARNING", DJANGO_SETTINGS_MODULE="dspops.settings")
    python = str(Path(sys.executable))
    subprocess.run([python, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    with sqlite3.connect(database) as source, sqlite3.connect(var / "dspops.sqlite3") as target:
        source.backup(target)
    port = _free_port()
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    process = subprocess.Popen([gunicorn, "dspops.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                                "--timeout", "120", "--log-level", "warning"], cwd=ROOT, env=env)
    _wait_for(port, process)
    return process, port


BARE_PROJECT = {
    "bare_settings.py": 'SECRET_KEY = "bench-only"\nDEBUG = False\nALLOWED_HOSTS = ["127.0.0.1"]\n'
                        'INSTALLED_APPS = ["django.contrib.contenttypes"]\nDATABASES = {}\nROOT_URLCONF = "bare_urls"\n'
                        'USE_TZ = True\n',
    "bare_urls.py": "import os\nimport time\n\nfrom django.http import HttpResponse\nfrom django.urls import path\n\n"
                    "CPU = float(os.environ['BARE_CPU_MS']) / 1000\n\n\n"
                    "def work(request):\n"
                    "    started = time.process_time()\n"
                    "    while time.process_time() - started < CPU:\n"
                    "        pass\n"
                    "    return HttpResponse('ok')\n\n\n"
                    "urlpatterns = [path('', work)]\n",
    "bare_wsgi.py": "import os\n\nos.environ['DJANGO_SETTINGS_MODULE'] = 'bare_settings'\n"
                    "from django.core.wsgi import get_wsgi_application\n\napplication = get_wsgi_application()\n",
}


def bare_server(folder: Path, cpu_seconds: float) -> tuple[subprocess.Popen, int]:
    """A Django project with one view that spends ``cpu_seconds`` of CPU and answers "ok", under the same gunicorn
    command: what the server and the machine allow 8 clients of a page that costs what the dashboard costs."""
    bare = folder / "bare"
    bare.mkdir()
    for name, text in BARE_PROJECT.items():
        (bare / name).write_text(text)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["BARE_CPU_MS"] = f"{cpu_seconds * 1000:.3f}"
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    process = subprocess.Popen([gunicorn, "bare_wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                                "--log-level", "warning"], cwd=bare, env=env)
    _wait_for(port, process)
    return process, port


def _wait_for(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("gunicorn did not start")


def main() -> None:
    os.environ["SECRET_KEY"] = SECRET_KEY  # the session the client logs in with must be valid in gunicorn too
    folder = start_django("pages")

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    client = Client(SERVER_NAME="localhost")
    user = get_user_model().objects.create_superuser("bench", "bench@localhost", "bench-password")
    client.force_login(user)  # the session row is copied into every database cloned below
    databases = {"large": clone_default("large"), "small": clone_default("small")}
    for label, wrapper in databases.items():
        use(wrapper)
        populate(LARGE_FILLS - 10 if label == "large" else 0)
    from sleeves.models import Fill

    counts = {}
    for label, wrapper in databases.items():
        use(wrapper)
        counts[label] = Fill.objects.count()

    def get(url: str) -> None:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)

    pages = {"dashboard": reverse("admin:index"), "positions_page": reverse("admin:sleeves_positions")}
    for name, url in pages.items():
        queries = {}
        for label, wrapper in databases.items():
            use(wrapper)
            get(url)
            with CaptureQueriesContext(connection) as captured:
                get(url)
            queries[label] = len(captured.captured_queries)
        times: dict[str, list[float]] = {label: [] for label in databases}
        for _ in range(RUNS):
            for label, wrapper in databases.items():
                use(wrapper)
                started = time.perf_counter()
                get(url)
                times[label].append(time.perf_counter() - started)
        large, small = statistics.median(times["large"]), statistics.median(times["small"])
        missed = large / small > GOAL_SIZE or queries["large"] != queries["small"]
        print(f"{name}: {large / small:.2f} x ({counts['large']:,} fills vs {counts['small']}, {large * 1000:.0f} ms vs "
              f"{small * 1000:.0f} ms; queries {queries['large']} vs {queries['small']}; goal <= {GOAL_SIZE:g} and equal "
              "queries)" + (" MISSES GOAL" if missed else ""))

    use(databases["large"])
    large_path = Path(databases["large"].settings_dict["NAME"])
    databases["large"].close()
    process, port = serve(large_path, folder)
    try:
        cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        base = f"http://127.0.0.1:{port}"
        alone, together = concurrent(base + pages["dashboard"], cookie)
        login_alone, login_together = concurrent(base + reverse("admin:login"), "")
    finally:
        process.terminate()
        process.wait(timeout=30)
    process, port = bare_server(folder, statistics.median(alone))
    try:
        bare_alone, bare_together = concurrent(f"http://127.0.0.1:{port}/", "")
    finally:
        process.terminate()
        process.wait(timeout=30)
    ratio = _p95(together) / _p95(alone)

    def ms(values: list[float]) -> str:
        return f"p95 {_p95(values) * 1000:.0f} ms, median {statistics.median(values) * 1000:.0f} ms"

    print(f"dashboard_concurrent: {ratio:.2f} x (p95 with {CLIENTS} clients vs 1 at {counts['large']:,} fills, gunicorn "
          f"2 workers on {os.cpu_count()} cores: {ms(together)} vs {ms(alone)}; the same ratio for the login page, which "
          f"reads nothing: {_p95(login_together) / _p95(login_alone):.2f} x, and for a bare Django view that spends the dashboard's median in CPU: "
          f"{_p95(bare_together) / _p95(bare_alone):.2f} x; goal <= {GOAL_CONCURRENCY:g})"
          + (" MISSES GOAL" if ratio > GOAL_CONCURRENCY else ""))
    shutil.rmtree(folder / "static", ignore_errors=True)


if __name__ == "__main__":
    main()
