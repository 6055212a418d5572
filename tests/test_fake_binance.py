"""The fake Binance itself: it must behave like the real API where our code relies on it."""

from __future__ import annotations

import hashlib
import hmac
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from binance.client import Client
from binance.exceptions import BinanceAPIException

from tests.fakes.binance import API_KEY, API_SECRET, FakeBinance, Fault
from tests.fakes.fixtures import FAKE_BINANCE_CLOCK
from trading import timeframes

ROOT = Path(__file__).resolve().parent.parent
NOW_MS = timeframes.to_ms(FAKE_BINANCE_CLOCK)
FORMING = NOW_MS - NOW_MS % 60_000


@pytest.fixture
def client(fake_binance: FakeBinance) -> Client:
    client = Client(API_KEY, API_SECRET, ping=False, testnet=False)
    client.API_URL = fake_binance.url + "/api"
    return client


def test_klines_default_to_the_last_500_with_the_forming_candle_flat_and_empty(client) -> None:
    rows = client.get_klines(symbol="BTCUSDT", interval="1m")
    assert len(rows) == 500
    forming = rows[-1]
    assert forming[0] == FORMING
    assert forming[1] == forming[2] == forming[3] == forming[4]
    assert forming[5] == "0.00000000"
    assert forming[6] == FORMING + 59_999
    assert rows[-2][0] == FORMING - 60_000 and rows[-2][5] != "0.00000000"


def test_klines_page_from_start_time_and_end_at_end_time(client) -> None:
    start = FORMING - 100 * 60_000
    page = client.get_klines(symbol="BTCUSDT", interval="1m", startTime=start, limit=10)
    assert [r[0] for r in page] == [start + i * 60_000 for i in range(10)]
    tail = client.get_klines(symbol="BTCUSDT", interval="1m", endTime=start, limit=3)
    assert [r[0] for r in tail] == [start - 2 * 60_000, start - 60_000, start]


@pytest.mark.parametrize(
    ("params", "code"),
    [({"interval": "7m"}, -1120), ({"interval": "1m", "limit": 1001}, -1130), ({"interval": "1m", "limit": 0}, -1130)],
)
def test_klines_refuse_bad_parameters(client, params, code) -> None:
    with pytest.raises(BinanceAPIException) as caught:
        client.get_klines(symbol="BTCUSDT", **params)
    assert caught.value.code == code


def test_the_signature_covers_every_parameter(fake_binance: FakeBinance) -> None:
    offset_ms = NOW_MS - int(time.time() * 1000)
    query = f"symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01&timestamp={int(time.time() * 1000) + offset_ms}"
    signature = hmac.new(API_SECRET.encode(), query.encode(), hashlib.sha256).hexdigest()
    headers = {"X-MBX-APIKEY": API_KEY, "Content-Type": "application/x-www-form-urlencoded"}
    tampered = query.replace("quantity=0.01", "quantity=0.02")
    refused = requests.post(f"{fake_binance.url}/api/v3/order", data=f"{tampered}&signature={signature}",
                            headers=headers, timeout=5)
    assert (refused.status_code, refused.json()["code"]) == (400, -1022)
    accepted = requests.post(f"{fake_binance.url}/api/v3/order", data=f"{query}&signature={signature}",
                             headers=headers, timeout=5)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "FILLED"


def test_faults_are_used_once_and_requests_are_counted_per_path(client, fake_binance: FakeBinance) -> None:
    fake_binance.inject("/api/v3/time", Fault.server_error(502))
    with pytest.raises(BinanceAPIException) as caught:
        client.get_server_time()
    assert caught.value.status_code == 502
    assert "serverTime" in client.get_server_time()
    client.ping()
    assert (fake_binance.count("/api/v3/time"), fake_binance.count("/api/v3/ping")) == (2, 1)


def test_the_fake_runs_by_hand_on_a_given_port(tmp_path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.binance", "--port", str(port), "--clock", "2025-08-18T12:00:30"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert f"http://127.0.0.1:{port}" in banner
        reply = requests.get(f"http://127.0.0.1:{port}/api/v3/time", timeout=5).json()
        assert abs(reply["serverTime"] - NOW_MS) < 60_000
    finally:
        process.terminate()
        process.wait(timeout=10)
