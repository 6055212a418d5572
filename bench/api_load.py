"""API throughput and tail latency under gunicorn (2 workers), measured from a
second process on loopback.

``run()`` builds a throw-away SQLite database (migrated, one viewer, one bot,
1,000 orders), starts gunicorn on a free loopback port, and loads
``GET /api/system/state`` and ``GET /api/orders`` (first page, 100 orders)
with a token. The load tool is ``wrk`` when it is installed, otherwise a small
bounded Python client run in its own process. It returns one dict per figure;
``python -m bench.api_load`` prints them as JSON lines.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ENDPOINTS = ("/api/system/state", "/api/orders")
ORDERS = 1000
WORKERS = 2
CONNECTIONS = 8
DURATION_SECONDS = 10


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _environment(workdir: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "tradingsite.settings",
            "DJANGO_SECRET_KEY": "bench-only-" + "k" * 50,
            "DEBUG": "false",
            "SECURE_HTTPS": "false",
            "ALLOWED_HOSTS": "127.0.0.1",
            "AUTH_ENABLED": "true",
            "DATABASE_URL": f"sqlite:///{workdir}/bench.sqlite3",
            "TRADING_VAR_DIR": workdir,
            "LOG_LEVEL": "WARNING",
        }
    )
    return env


SEED = """
import django
django.setup()
from datetime import timedelta
from decimal import Decimal
from django.contrib.auth.models import Group, User
from django.utils import timezone
from knox.models import AuthToken
from trading.models import Bot, Order
user = User.objects.create_user("bench-viewer")
user.groups.add(Group.objects.get(name="viewer"))
bot = Bot.objects.create(name="bench")
now = timezone.now()
Order.objects.bulk_create(
    Order(bot=bot, client_order_id=f"bench-{n:06d}", symbol="BTCUSDT", side="BUY" if n % 2 else "SELL",
          quantity=Decimal("0.00123456"), price=Decimal("50123.45678901"), status="FILLED",
          created_at=now - timedelta(minutes=n))
    for n in range({orders})
)
print(AuthToken.objects.create(user=user)[1])
"""


def _prepare(env: dict[str, str]) -> str:
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    seeded = subprocess.run(
        [python, "-c", SEED.replace("{orders}", str(ORDERS))],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )
    return seeded.stdout.strip().splitlines()[-1]


def _start_gunicorn(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "tradingsite.wsgi", "-w", str(WORKERS), "-b", f"127.0.0.1:{port}",
         "--log-level", "warning"],
        cwd=ROOT, env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/system/state", timeout=2):
                pass
        except urllib.error.HTTPError:  # 401: up and answering
            return server
        except OSError:
            time.sleep(0.2)
        else:
            return server
    server.kill()
    raise RuntimeError("gunicorn did not answer within 30 s")


def _wrk_seconds(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def _load_with_wrk(url: str, token: str) -> dict[str, Any]:
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", str(CONNECTIONS), "-d", f"{DURATION_SECONDS}s", "--latency",
         "-H", f"Authorization: Token {token}", url],
        check=True, capture_output=True, text=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _wrk_seconds(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _wrk_seconds(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "tool": "wrk", "rps": rps, "p50_ms": p50 * 1000, "p99_ms": p99 * 1000,
        "non_2xx": int(bad.group(1)) if bad else 0, "socket_errors": errors.group(1) if errors else "",
    }


PY_CLIENT = """
import http.client, json, sys, threading, time
host, port, path, token, seconds, connections = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5]), int(sys.argv[6])
latencies, bad = [], [0]
lock = threading.Lock()
stop = time.monotonic() + seconds
def worker():
    mine, errors = [], 0
    while time.monotonic() < stop:
        conn = http.client.HTTPConnection(host, port, timeout=10)  # gunicorn sync workers close each connection
        started = time.perf_counter()
        conn.request("GET", path, headers={"Authorization": "Token " + token})
        response = conn.getresponse(); response.read(); conn.close()
        mine.append(time.perf_counter() - started)
        errors += response.status != 200
    with lock:
        latencies.extend(mine); bad[0] += errors
threads = [threading.Thread(target=worker) for _ in range(connections)]
begin = time.monotonic()
for t in threads: t.start()
for t in threads: t.join()
elapsed = time.monotonic() - begin
latencies.sort()
pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
print(json.dumps({"rps": len(latencies) / elapsed, "p50_ms": pick(0.5) * 1000, "p99_ms": pick(0.99) * 1000, "non_2xx": bad[0]}))
"""


def _load_with_python(port: int, path: str, token: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", PY_CLIENT, "127.0.0.1", str(port), path, token, str(DURATION_SECONDS),
         str(CONNECTIONS)],
        check=True, capture_output=True, text=True,
    ).stdout
    return {"tool": "python-http.client", **json.loads(out)}


def run() -> list[dict[str, Any]]:
    """One dict per figure: requests per second and p99 latency of each endpoint."""
    figures: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="api-bench-") as workdir:
        env = _environment(workdir)
        token = _prepare(env)
        port = _free_port()
        server = _start_gunicorn(env, port)
        try:
            for path in ENDPOINTS:
                if shutil.which("wrk"):
                    result = _load_with_wrk(f"http://127.0.0.1:{port}{path}", token)
                else:
                    result = _load_with_python(port, path, token)
                context = {
                    "endpoint": f"GET {path}", "tool": result["tool"], "server": f"gunicorn -w {WORKERS} (sync)",
                    "connections": CONNECTIONS, "duration_s": DURATION_SECONDS, "database": "sqlite",
                    "orders_in_table": ORDERS, "non_2xx": result["non_2xx"], "p50_ms": round(result["p50_ms"], 2),
                }
                slug = path.strip("/").replace("/", "_")
                figures.append({"name": f"{slug}_requests_per_second", "value": round(result["rps"], 1),
                                "unit": "req/s", **context})
                figures.append({"name": f"{slug}_p99_latency", "value": round(result["p99_ms"], 2),
                                "unit": "ms", **context})
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
    return figures


if __name__ == "__main__":
    for figure in run():
        print(json.dumps(figure))
