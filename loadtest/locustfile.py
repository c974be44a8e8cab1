"""Locust users for a live room: websocket viewers, grabbers and lucky-bag entrants, and one host.

Every websocket answer is reported through locust's ``request`` event with request_type "WS",
so websocket latency sits beside HTTP in locust's stats, CSV and HTML report:

- ``join``: connect until the snapshot arrives;
- ``grab``: a grab frame until its ``grab_result`` (``ok: false`` is an answer, not a failure);
- ``enter_lucky_bag`` / ``enter_lucky_bag:comment``: the entry until ``lucky_bag_entered``;
- ``event_delay:<type>``: receipt time minus the broadcast event's server ``ts`` (same clock only
  when locust and the server share a machine, or their clocks are synchronised);
- ``disconnect:<code>`` and ``seq_gap`` failures, after which the user resyncs from a snapshot.

Run it with ``linli loadtest`` (which also checks the invariants), or by hand:
``LINLI_SECRET=... locust -f loadtest/locustfile.py --host http://127.0.0.1:8080 --scenario flash``.
Setup happens in ``test_start`` on the master (or the only process); workers receive the
session id with the master's custom options, so only the master needs ``--session-id`` when
reusing a session. LINLI_SECRET must be the server's secret on every locust process.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import random
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import ProxyHandler, Request, build_opener

import gevent
import locust.stats
from gevent.event import AsyncResult, Event
from locust import FastHttpUser, User, between, constant, events, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import WorkerRunner
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from infra.auth import issue_token

log = logging.getLogger("linli.loadtest")

SCENARIOS = {
    "flash": {"Grabber", "Host"},
    "luckybag": {"LuckyBagEntrant", "Host"},
    "mixed": {"Viewer", "Grabber", "LuckyBagEntrant", "Host"},
}
PASSPHRASE = "邻里好"
BAG = {"title": "福袋", "winners": 5, "countdown_s": 10, "passphrase": PASSPHRASE, "min_watch_s": 3,
       "prize_points": 10}
BAG_FIRST_AFTER_S = 2.0
BAG_EVERY_S = 20.0
ANSWER_TIMEOUT_S = 5.0
TOKEN_TTL_S = 6 * 3600
# Files in --report-dir that the runner reads after the run.
SESSION_FILE, ORDERS_FILE, BAGS_FILE = "session.json", "acked_orders.txt", "bags.txt"
ENTRIES_FILE, RESULTS_FILE = "bag_entries.txt", "bag_results.txt"
_http = build_opener(ProxyHandler({}))
# websockets 17 wants connect() as a context manager; a connection shared by two greenlets and
# replaced on resync is held directly, which it allows with legacy=True (older versions always did).
_DIRECT: dict[str, Any] = {"legacy": True} if "legacy" in inspect.signature(connect).parameters else {}
# Locust rewrites its CSV on this period and not at exit, so the CSV misses at most this much of the end.
locust.stats.CSV_STATS_INTERVAL_SEC = 0.5  # type: ignore[assignment] # locust sleeps this long: a float is fine


class WsError(Exception):
    """An error frame, a missing answer or a lost connection, as a locust failure."""


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="mixed", help="Which users spawn.")
    parser.add_argument("--session-id", default="", help="Use this live session instead of creating one.")
    parser.add_argument("--community", default="loadtest", help="Community of the session and the tokens.")
    parser.add_argument("--items", type=int, default=3, help="Items created with the session.")
    parser.add_argument("--stock", type=int, default=int(os.environ.get("LINLI_LOAD_STOCK", "100")),
                        help="Units loaded per item (env LINLI_LOAD_STOCK).")
    parser.add_argument("--per-user-limit", type=int, default=int(os.environ.get("LINLI_LOAD_LIMIT", "2")),
                        help="Per-user limit of each item (env LINLI_LOAD_LIMIT).")
    parser.add_argument("--flash-s", type=int, default=10, help="Length of each flash sale.")
    parser.add_argument("--report-dir", default="", help="Where to write acknowledged orders, bags and entries.")


@events.init.add_listener
def _pick_users(environment: Environment, **_: Any) -> None:
    # Users outside the scenario must not spawn: drop them before any runner dispatches.
    if environment.parsed_options is not None:
        wanted = SCENARIOS[environment.parsed_options.scenario]
        environment.user_classes[:] = [u for u in environment.user_classes if u.__name__ in wanted]


def _secret() -> str:
    secret = os.environ.get("LINLI_SECRET")
    if not secret:
        raise RuntimeError("set LINLI_SECRET to the server's secret: tokens are minted locally")
    return secret


def _token(opts: Any, user: str, role: str) -> str:
    community = None if role == "admin" else opts.community
    return issue_token(_secret(), user_id=user, role=role, community_id=community, ttl_s=TOKEN_TTL_S)


def _call(base: str, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    """One JSON call outside locust's stats (setup is not part of the measurement)."""
    data = None if body is None else json.dumps(body).encode()
    req = Request(base + path, data=data, method=method,
                  headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with _http.open(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _ok(base: str, method: str, path: str, token: str, body: Any = None) -> Any:
    status, data = _call(base, method, path, token, body)
    if status not in (200, 201):
        raise RuntimeError(f"{method} {path} answered {status}: {data}")
    return data


def _append(opts: Any, filename: str, line: str) -> None:
    """Append one line; a single O_APPEND write is atomic across greenlets and processes."""
    if not opts.report_dir:
        return
    fd = os.open(Path(opts.report_dir) / filename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def _prepare_session(base: str, opts: Any) -> dict[str, Any]:
    """Reuse --session-id, or create the community (409 is fine), a session and its items, live."""
    host, admin = _token(opts, "loadtest-host", "host"), _token(opts, "loadtest-admin", "admin")
    if not opts.session_id:
        status, body = _call(base, "POST", "/api/communities", admin, {"id": opts.community, "name": "压测小区"})
        if status not in (201, 409):
            raise RuntimeError(f"creating the community answered {status}: {body}")
        sid = _ok(base, "POST", "/api/sessions", host, {"title": "压测直播", "community_id": opts.community})["id"]
        for n in range(opts.items):
            _ok(base, "POST", f"/api/sessions/{sid}/items", host, {
                "title": f"秒杀{n + 1}", "price_cents": 990, "stock": opts.stock,
                "per_user_limit": opts.per_user_limit, "unit": "份"})
        _ok(base, "POST", f"/api/sessions/{sid}/live", host)
        opts.session_id = sid
    session = _ok(base, "GET", f"/api/sessions/{opts.session_id}", host)
    return {"session_id": opts.session_id, "community_id": opts.community, "stock": opts.stock,
            "per_user_limit": opts.per_user_limit, "scenario": opts.scenario,
            "items": [i["id"] for i in session["items"]]}


@events.test_start.add_listener
def _setup(environment: Environment, **_: Any) -> None:
    opts = environment.parsed_options
    if opts is None or isinstance(environment.runner, WorkerRunner):
        return  # workers got session_id with the master's options
    try:
        room = _prepare_session(environment.host or "", opts)
    except Exception:
        log.exception("load test setup failed")
        environment.process_exit_code = 3
        gevent.spawn(environment.runner.quit)  # type: ignore[union-attr]
        return
    if opts.report_dir:
        Path(opts.report_dir).mkdir(parents=True, exist_ok=True)
        (Path(opts.report_dir) / SESSION_FILE).write_text(json.dumps(room))
    log.info("live session %s with items %s", room["session_id"], room["items"])


class RoomUser(User):
    """A resident's phone: one websocket to the room, read by its own greenlet."""

    abstract = True
    ws: ClientConnection | None = None
    reader: gevent.Greenlet | None = None
    stopping = False

    def on_start(self) -> None:
        self.opts = self.environment.parsed_options
        if not self.opts.session_id:
            raise StopUser()
        self.sid = self.opts.session_id
        self.user_id = f"{type(self).__name__.lower()}-{uuid.uuid4().hex[:12]}"
        self.token = _token(self.opts, self.user_id, "resident")
        self.last_seq = 0
        # A phone that cannot get in keeps trying; every failed try is reported.
        while not self._connect():
            gevent.sleep(random.uniform(1, 3))
        self.reader = gevent.spawn(self._read_loop)

    def on_stop(self) -> None:
        self.stopping = True
        if self.ws is not None:
            self.ws.close()
        if self.reader is not None:
            self.reader.kill(block=False)

    def report(self, name: str, started: float, length: int = 0, exc: Exception | None = None,
               elapsed_ms: float | None = None) -> None:
        ms = (time.perf_counter() - started) * 1000 if elapsed_ms is None else elapsed_ms
        self.environment.events.request.fire(request_type="WS", name=name, response_time=ms,
                                             response_length=length, exception=exc, context={})

    def _connect(self) -> bool:
        url = (self.host or "").replace("http", "ws", 1) + f"/ws/sessions/{self.sid}"
        options: dict[str, Any] = {"additional_headers": {"Authorization": f"Bearer {self.token}"},
                                   "open_timeout": 20, "proxy": None, "max_size": 2**20, **_DIRECT}
        started = time.perf_counter()
        try:
            ws = connect(url, **options)
            raw = ws.recv(timeout=20)
        except Exception as exc:  # noqa: BLE001 - refused, timed out or dropped: a failed join
            self.report("join", started, exc=WsError(f"{type(exc).__name__}: {exc}"))
            return False
        snapshot = json.loads(raw)
        self.report("join", started, len(raw))
        self.ws, self.last_seq = ws, snapshot["seq"]
        self.on_snapshot(snapshot)
        return True

    def _read_loop(self) -> None:
        while not self.stopping:
            ws = self.ws
            assert ws is not None
            try:
                raw = ws.recv()
            except ConnectionClosed as exc:
                if self.stopping:
                    return
                code = exc.rcvd.code if exc.rcvd else 1006
                self.report(f"disconnect:{code}", time.perf_counter(), exc=WsError(str(exc)))
                self._resync()
                continue
            try:
                self._take(ws, raw, time.time() * 1000)
            except Exception as exc:  # noqa: BLE001 - a bug here must show in the report, not deafen the user
                self.environment.events.user_error.fire(user_instance=self, exception=exc, tb=exc.__traceback__)

    def _take(self, ws: ClientConnection, raw: str | bytes, received_ms: float) -> None:
        event = json.loads(raw)
        if "seq" in event:
            self.report(f"event_delay:{event['type']}", 0, len(raw), elapsed_ms=max(0.0, received_ms - event["ts"]))
            if event["seq"] != self.last_seq + 1:
                # The protocol: a gap means events were lost; start again from a snapshot.
                self.report("seq_gap", time.perf_counter(), exc=WsError(f"seq {event['seq']} after {self.last_seq}"))
                ws.close()
                self._resync()
                return
            self.last_seq = event["seq"]
        self.on_event(event, len(raw))

    def _resync(self) -> None:
        while not self.stopping and not self._connect():
            gevent.sleep(random.uniform(1, 3))

    def send(self, frame: dict[str, Any]) -> bool:
        """Send a frame; False when the connection is gone (the reader is reconnecting)."""
        try:
            assert self.ws is not None
            self.ws.send(json.dumps(frame, ensure_ascii=False))
            return True
        except ConnectionClosed:
            return False

    def on_snapshot(self, snapshot: dict[str, Any]) -> None:
        """The room as it is on (re)joining."""

    def on_event(self, event: dict[str, Any], length: int) -> None:
        """One frame from the server, in order."""


class Viewer(RoomUser):
    """Watches: reads every event and pings now and then, as a phone on a mobile network does."""

    weight = 5
    wait_time = between(20, 30)

    @task
    def keep_alive(self) -> None:
        self.send({"type": "ping"})


class Grabber(RoomUser):
    """Grabs items on sale, with a think time per tap, until they sell out or hit the limit."""

    weight = 3
    wait_time = constant(0)

    def on_start(self) -> None:
        self.on_sale: set[str] = set()
        self.done: set[str] = set()  # sold out or at the per-user limit: the button is greyed out
        self.sale_seen = Event()
        self.pending: dict[str, AsyncResult] = {}
        super().on_start()

    def on_snapshot(self, snapshot: dict[str, Any]) -> None:
        self.on_sale = {i["id"] for i in snapshot["items"] if i["on_sale"] and i["left"] > 0}
        self.sale_seen.set()

    def on_event(self, event: dict[str, Any], length: int) -> None:
        match event["type"]:
            case "flash_started" if event["left"] > 0:
                self.on_sale.add(event["item_id"])
                self.sale_seen.set()
            case "flash_ended":
                self.on_sale.discard(event["item_id"])
            case "stock" if event["left"] <= 0:
                self.on_sale.discard(event["item_id"])
            case "grab_result" | "error" if event.get("request_id") in self.pending:
                self.pending[event["request_id"]].set((event, length))

    @task
    def grab(self) -> None:
        self.sale_seen.clear()
        if not self.on_sale - self.done:
            self.sale_seen.wait(1)
            return
        gevent.sleep(random.uniform(0.2, 1.5))  # a person reads the price and taps
        choices = sorted(self.on_sale - self.done)
        if choices:
            self._grab(random.choice(choices))

    def _grab(self, iid: str) -> None:
        rid = str(uuid.uuid4())
        frame = {"type": "grab", "item_id": iid, "qty": 1, "request_id": rid}
        slot = self.pending[rid] = AsyncResult()
        started = time.perf_counter()
        try:
            # No answer in 5 s: send the same request id once more (it can only be answered once).
            for _attempt in range(2):
                self.send(frame)
                try:
                    answer, length = slot.get(timeout=ANSWER_TIMEOUT_S)
                    break
                except gevent.Timeout:
                    continue
            else:
                self.report("grab", started, exc=WsError(f"no grab_result within {2 * ANSWER_TIMEOUT_S:.0f}s"))
                return
        finally:
            del self.pending[rid]
        if answer["type"] == "error":
            self.report("grab", started, length, exc=WsError(f"{answer['code']}: {answer['message']}"))
            return
        self.report("grab", started, length)
        if answer["ok"]:
            _append(self.opts, ORDERS_FILE, answer["order_id"])
        elif answer["reason"] in ("sold_out", "limit", "not_enough"):
            self.done.add(iid)
        else:
            self.on_sale.discard(iid)


class LuckyBagEntrant(RoomUser):
    """Enters each lucky bag after watching its min_watch_s: by frame, or by commenting the passphrase."""

    weight = 2
    wait_time = constant(0)

    def on_start(self) -> None:
        self.todo: list[dict[str, Any]] = []
        self.seen_bags: set[str] = set()
        self.bag_seen = Event()
        self.entering: tuple[str, AsyncResult] | None = None
        super().on_start()

    def _bag(self, bag: dict[str, Any]) -> None:
        if bag["id"] not in self.seen_bags:
            self.seen_bags.add(bag["id"])
            self.todo.append(bag)
            self.bag_seen.set()

    def on_snapshot(self, snapshot: dict[str, Any]) -> None:
        for bag in snapshot["lucky_bags"]:
            if not bag["entered"]:
                self._bag(bag)

    def on_event(self, event: dict[str, Any], length: int) -> None:
        match event["type"]:
            case "lucky_bag_started":
                self._bag(event["bag"])
            case "lucky_bag_result":
                _append(self.opts, RESULTS_FILE, f"{event['bag_id']} {self.user_id} {json.dumps(event['winners'])}")
            case "lucky_bag_entered" | "error" if self.entering is not None:
                # Bag errors carry no id, but this phone has only one entry in flight.
                if event["type"] == "error" or event["bag_id"] == self.entering[0]:
                    self.entering[1].set((event, length))

    @task
    def enter(self) -> None:
        self.bag_seen.clear()
        if not self.todo:
            self.bag_seen.wait(1)
            return
        bag = self.todo.pop(0)
        gevent.sleep(bag["min_watch_s"] + random.uniform(0.2, 1.5))
        if time.time() * 1000 > bag["draw_at"] - 500:
            return  # joined too late to have watched long enough before the draw
        if bag["needs_passphrase"] and random.random() < 0.5:
            name, frame = "enter_lucky_bag:comment", {"type": "comment", "text": PASSPHRASE}
        else:
            name, frame = "enter_lucky_bag", {"type": "enter_lucky_bag", "bag_id": bag["id"]}
            if bag["needs_passphrase"]:
                frame["passphrase"] = PASSPHRASE
        slot: AsyncResult = AsyncResult()
        self.entering = (bag["id"], slot)
        started = time.perf_counter()
        try:
            if not self.send(frame):
                self.report(name, started, exc=WsError("connection lost"))
                return
            answer, length = slot.get(timeout=ANSWER_TIMEOUT_S)
        except gevent.Timeout:
            self.report(name, started, exc=WsError(f"no answer within {ANSWER_TIMEOUT_S:.0f}s"))
            return
        finally:
            self.entering = None
        if answer["type"] == "error":
            self.report(name, started, length, exc=WsError(f"{answer['code']}: {answer['message']}"))
            return
        self.report(name, started, length)
        _append(self.opts, ENTRIES_FILE, f"{bag['id']} {self.user_id}")


class Host(FastHttpUser):
    """The host's script over HTTP: pin and flash the items one after another; a lucky bag every ~20 s."""

    fixed_count = 1
    wait_time = constant(1)

    def on_start(self) -> None:
        self.opts = self.environment.parsed_options
        if not self.opts.session_id:
            raise StopUser()
        self.sid = self.opts.session_id
        self.headers = {"Authorization": f"Bearer {_token(self.opts, 'loadtest-host', 'host')}"}
        self.flash = self.opts.scenario in ("flash", "mixed")
        self.bags = self.opts.scenario in ("luckybag", "mixed")
        self.flashed: list[str] = []
        self.next_bag = time.monotonic() + BAG_FIRST_AFTER_S

    def _call(self, method: str, path: str, name: str, body: Any = None) -> Any:
        resp = self.client.request(method, f"/api/sessions/{self.sid}{path}", name=f"/api/sessions/[sid]{name}",
                                   headers=self.headers, json=body)
        return resp.json() if resp.status_code in (200, 201) else None

    @task
    def tick(self) -> None:
        if self.bags and time.monotonic() >= self.next_bag:
            self.next_bag += BAG_EVERY_S
            bag = self._call("POST", "/lucky-bags", "/lucky-bags", BAG)
            if bag:
                _append(self.opts, BAGS_FILE, bag["id"])
        if self.flash:
            self._next_flash()

    def _next_flash(self) -> None:
        session = self._call("GET", "", "")
        if session is None:
            return
        items = {i["id"]: i for i in session["items"]}
        current = items.get(self.flashed[-1]) if self.flashed else None
        if current and current["on_sale"] and current["left"] > 0:
            return  # the sale is still on
        fresh = [iid for iid, i in items.items() if iid not in self.flashed and i["left"] > 0]
        if fresh:
            iid = fresh[0]
        else:
            # Every item has had its sale: put another one up, as a host does when the room is hot.
            item = self._call("POST", "/items", "/items", {
                "title": f"加场{len(items) + 1}", "price_cents": 990, "stock": self.opts.stock,
                "per_user_limit": self.opts.per_user_limit, "unit": "份"})
            if item is None:
                return
            iid = item["id"]
        self.flashed.append(iid)
        self._call("POST", f"/items/{iid}/pin", "/items/[iid]/pin")
        self._call("POST", f"/items/{iid}/flash", "/items/[iid]/flash", {"duration_s": self.opts.flash_s})
