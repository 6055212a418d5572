"""A local fake of the Telegram Bot API, for python-telegram-bot to talk to.

It serves ``/bot<token>/<method>`` on 127.0.0.1 (an ephemeral port unless one
is given) and speaks the methods the project uses: getMe, getUpdates (with
offset and long-poll ``timeout``), sendMessage, editMessageText,
answerCallbackQuery, deleteWebhook, setMyCommands (and close/logOut). A test
injects updates (``command``, ``press``, ``callback``), reads what the bot
sent (``calls``, ``sent``), and injects faults (``fail``: HTTP 500/502, or 429
with ``retry_after``; ``slow``: a response that takes its time).

By hand: ``python -m tests.fakes.telegram --port 9200``, then point the bot at
``TELEGRAM_BASE_URL=http://127.0.0.1:9200/bot`` and drive it with the control
routes (``POST /_fake/command {"chat_id": 1, "text": "/status"}``,
``POST /_fake/press {"chat_id": 1, "message_id": 3, "data": "..."}``,
``POST /_fake/fault {"method": "sendMessage", "status": 500, "times": 2}``,
``GET /_fake/calls``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.http_server import Answer, LocalHTTPServer, wait_for_ctrl_c

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "Trading bot", "username": "fake_trading_bot"}
# Parameters that python-telegram-bot sends as plain strings (the others are JSON-encoded).
STRING_PARAMS = {"text", "callback_query_id", "inline_message_id", "parse_mode", "url", "caption"}
PATH = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)$")


@dataclass
class Call:
    """One request the fake received: its method, parameters and the status it answered."""

    method: str
    params: dict[str, Any]
    status: int | None = None  # None while the response is still being prepared
    received_at: float = field(default_factory=time.monotonic)


@dataclass
class Fault:
    method: str | None  # None: any method but getUpdates
    times: int | None  # None: until cleared
    status: int = 200
    retry_after: int | None = None
    delay: float = 0.0
    body: bytes | None = None


def chat_of(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": f"user{chat_id}"}
    return {"id": chat_id, "type": "supergroup", "title": f"group{chat_id}"}


def user_of(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"}


class FakeTelegram:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, token: str | None = None) -> None:
        self.token = token  # when set, other tokens are answered 401 like the real API
        self._lock = threading.Condition()
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._calls: list[Call] = []
        self._faults: list[Fault] = []
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._closing = threading.Event()
        self._server = LocalHTTPServer(self._respond, host=host, port=port, name="fake-telegram")

    # --- lifecycle ------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._server.port

    @property
    def base_url(self) -> str:
        """In python-telegram-bot's ``base_url`` form: the token is appended to it."""
        return f"http://127.0.0.1:{self.port}/bot"

    def start(self) -> FakeTelegram:
        self._server.start()
        return self

    def stop(self) -> None:
        # Wake the long polls and slow replies first, so that their threads end.
        self._closing.set()
        with self._lock:
            self._lock.notify_all()
        self._server.stop()

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget updates, calls, messages and faults (between tests)."""
        with self._lock:
            self._updates.clear()
            self._calls.clear()
            self._faults.clear()
            self._messages.clear()

    # --- injecting updates ----------------------------------------------------
    def _push(self, payload: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            update = {"update_id": next(self._update_ids), **payload}
            self._updates.append(update)
            self._lock.notify_all()
        return update

    def command(
        self, text: str, *, chat_id: int, user_id: int | None = None, edited: bool = False
    ) -> dict[str, Any]:
        """A user (``user_id``, by default the private chat's own id) sends ``text`` in
        ``chat_id`` (or, with ``edited``, edits an earlier message into it)."""
        user_id = chat_id if user_id is None else user_id
        word = text.split(maxsplit=1)[0] if text.strip() else ""
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat_of(chat_id),
            "from": user_of(user_id),
            "text": text,
        }
        if word.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(word)}]
        if edited:
            message["edit_date"] = message["date"]
            return self._push({"edited_message": message})
        return self._push({"message": message})

    def press(self, message: dict[str, Any], data: str, *, user_id: int) -> dict[str, Any]:
        """``user_id`` presses the inline button carrying ``data`` under a message the bot sent."""
        with self._lock:
            key = (message["chat"]["id"], message["message_id"])
            current = dict(self._messages.get(key, message))
        return self.callback(data, user_id=user_id, message=current)

    def callback(
        self,
        data: str,
        *,
        user_id: int,
        message: dict[str, Any] | None = None,
        inline_message_id: str | None = None,
    ) -> dict[str, Any]:
        """A raw callback query; without ``message`` it is like one from an inline message."""
        query: dict[str, Any] = {
            "id": str(next(self._callback_ids)),
            "from": user_of(user_id),
            "chat_instance": "fake-instance",
            "data": data,
        }
        if message is not None:
            query["message"] = message
        elif inline_message_id is not None:
            query["inline_message_id"] = inline_message_id
        return self._push({"callback_query": query})

    # --- reading what the bot did ---------------------------------------------
    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method.lower() == method.lower()]

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """The messages the bot sent successfully (sendMessage answered 200), oldest first."""
        with self._lock:
            return [
                dict(m)
                for m in self._messages.values()
                if m.get("from", {}).get("id") == BOT_USER["id"]
                and (chat_id is None or m["chat"]["id"] == chat_id)
            ]

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        with self._lock:
            found = self._messages.get((chat_id, message_id))
            return dict(found) if found else None

    def pending_updates(self) -> int:
        with self._lock:
            return len(self._updates)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
        """Block until ``predicate()`` holds (checked whenever a request finishes) or time runs out."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(min(remaining, 0.2))
        return True

    # --- faults ---------------------------------------------------------------
    def fail(
        self,
        method: str | None,
        *,
        status: int = 500,
        times: int | None = 1,
        retry_after: int | None = None,
        body: bytes | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (None: every method but getUpdates) with ``status``."""
        with self._lock:
            self._faults.append(Fault(method, times, status=status, retry_after=retry_after, body=body))

    def slow(self, method: str | None, seconds: float, *, times: int | None = None) -> None:
        """Hold the answer to ``method`` for ``seconds`` (the client may time out first)."""
        with self._lock:
            self._faults.append(Fault(method, times, delay=seconds))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_faults(self, method: str) -> list[Fault]:
        taken: list[Fault] = []
        with self._lock:
            for fault in list(self._faults):
                matches = (fault.method is None and method != "getupdates") or (
                    fault.method is not None and fault.method.lower() == method
                )
                if not matches:
                    continue
                taken.append(fault)
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
        return taken

    # --- HTTP -----------------------------------------------------------------
    def _respond(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Answer:
        url = urlsplit(target)
        if url.path.startswith("/_fake/"):
            return _answer(*self._control(url.path, raw))
        match = PATH.match(url.path)
        if match is None:
            return _answer(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        try:
            params = _decode(raw, headers.get("content-type", ""), url.query)
        except ValueError:
            return _answer(400, {"ok": False, "error_code": 400, "description": "Bad Request: bad body"})
        return _answer(*self.handle(match["token"], match["method"], params))

    def _control(self, path: str, raw: bytes) -> tuple[int, dict[str, Any] | list[Any]]:
        """The routes that drive the fake by hand (see the module docstring)."""
        data = json.loads(raw or b"{}")
        if path == "/_fake/command":
            return 200, self.command(data["text"], chat_id=int(data["chat_id"]), user_id=data.get("user_id"))
        if path == "/_fake/press":
            message = self.message(int(data["chat_id"]), int(data["message_id"]))
            if message is None:
                return 404, {"error": "no such message"}
            user_id = int(data.get("user_id") or data["chat_id"])
            return 200, self.press(message, data["data"], user_id=user_id)
        if path == "/_fake/fault":
            if data.get("delay"):
                self.slow(data.get("method"), float(data["delay"]), times=data.get("times"))
            else:
                self.fail(data.get("method"), status=int(data.get("status", 500)),
                          times=data.get("times", 1), retry_after=data.get("retry_after"))
            return 200, {"ok": True}
        if path == "/_fake/calls":
            return 200, [{"method": c.method, "params": c.params, "status": c.status} for c in self.calls()]
        return 404, {"error": "unknown control route"}

    # --- the Bot API ----------------------------------------------------------
    def handle(self, token: str, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any] | bytes]:
        call = Call(method=method, params=params)
        with self._lock:
            self._calls.append(call)
        status, body = self._answer(token, method, params)
        with self._lock:
            call.status = status
            self._lock.notify_all()
        return status, body

    def _answer(self, token: str, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any] | bytes]:
        if self.token is not None and token != self.token:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        for fault in self._take_faults(method.lower()):
            if fault.delay and self._closing.wait(fault.delay):
                return 503, {"ok": False, "error_code": 503, "description": "shutting down"}
            if fault.status != 200:
                if fault.body is not None:
                    return fault.status, fault.body
                error: dict[str, Any] = {
                    "ok": False,
                    "error_code": fault.status,
                    "description": "Too Many Requests" if fault.status == 429 else "Internal Server Error",
                }
                if fault.retry_after is not None:
                    error["parameters"] = {"retry_after": fault.retry_after}
                    error["description"] = f"Too Many Requests: retry after {fault.retry_after}"
                return fault.status, error
        handler = getattr(self, f"_api_{method.lower()}", None)
        if handler is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        try:
            return 200, {"ok": True, "result": handler(params)}
        except _BadRequest as exc:
            return 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"}

    def _api_getme(self, params: dict[str, Any]) -> dict[str, Any]:
        return dict(BOT_USER)

    def _api_deletewebhook(self, params: dict[str, Any]) -> bool:
        return True

    def _api_setmycommands(self, params: dict[str, Any]) -> bool:
        return True

    def _api_close(self, params: dict[str, Any]) -> bool:
        return True

    def _api_logout(self, params: dict[str, Any]) -> bool:
        return True

    def _api_getupdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + timeout
        with self._lock:
            if offset > 0:
                # An offset confirms every update below it: Telegram forgets them.
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while True:
                if offset < 0:
                    ready = self._updates[offset:]
                else:
                    ready = [u for u in self._updates if u["update_id"] >= offset]
                remaining = deadline - time.monotonic()
                if ready or remaining <= 0 or self._closing.is_set():
                    return ready[:limit]
                self._lock.wait(min(remaining, 0.5))

    def _api_sendmessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = _int(params, "chat_id")
        text = params.get("text")
        if not text:
            raise _BadRequest("message text is empty")
        if len(text) > 4096:
            raise _BadRequest("message is too long")
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat_of(chat_id),
            "from": dict(BOT_USER),
            "text": text,
        }
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        with self._lock:
            self._messages[(chat_id, message["message_id"])] = message
        return message

    def _api_editmessagetext(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        text = params.get("text")
        if not text:
            raise _BadRequest("message text is empty")
        if params.get("inline_message_id"):
            return True
        key = (_int(params, "chat_id"), _int(params, "message_id"))
        with self._lock:
            message = self._messages.get(key)
            if message is None:
                raise _BadRequest("message to edit not found")
            if message["text"] == text and message.get("reply_markup") == params.get("reply_markup"):
                raise _BadRequest("message is not modified")
            message["text"] = text
            message["edit_date"] = int(time.time())
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
            else:
                message.pop("reply_markup", None)
            return dict(message)

    def _api_answercallbackquery(self, params: dict[str, Any]) -> bool:
        if not params.get("callback_query_id"):
            raise _BadRequest("query id is missing")
        return True


class _BadRequest(Exception):
    pass


def _int(params: dict[str, Any], name: str) -> int:
    try:
        return int(params[name])
    except (KeyError, TypeError, ValueError):
        raise _BadRequest(f"{name} is missing or not a number") from None


def _answer(status: int, body: dict[str, Any] | list[Any] | bytes) -> Answer:
    if isinstance(body, bytes):
        return status, [("Content-Type", "text/html")], body
    return status, [("Content-Type", "application/json")], json.dumps(body).encode()


def _decode(raw: bytes, content_type: str, query: str) -> dict[str, Any]:
    params: dict[str, Any] = dict(parse_qsl(query))
    if raw and content_type.startswith("application/json"):
        params.update(json.loads(raw.decode("utf-8")))
        return params
    for key, value in parse_qsl(raw.decode("utf-8"), keep_blank_values=True):
        if key in STRING_PARAMS:
            params[key] = value
            continue
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params


def main() -> None:
    parser = argparse.ArgumentParser(description="A local fake Telegram Bot API server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9200)
    args = parser.parse_args()
    fake = FakeTelegram(args.host, args.port).start()
    print(f"fake Telegram Bot API on {fake.base_url}  (set TELEGRAM_BASE_URL to it); Ctrl-C stops")
    wait_for_ctrl_c()
    fake.stop()


if __name__ == "__main__":
    main()
