"""The websocket client every resident user is built on, and how its answers reach locust's stats.

Each answer is fired as locust's ``request`` event with request_type "WS", so websocket latency
sits beside HTTP in locust's stats, CSV and HTML report.
"""

from __future__ import annotations

import inspect
import json
import random
import time
import uuid
from typing import Any, cast

import gevent
from gevent.event import AsyncResult, Event
from locust import User
from locust.exception import StopUser
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from loadtest.live_setup import token

ANSWER_TIMEOUT_S = 5.0  # how long a user waits for the answer to its grab or bag entry
Answer = tuple[dict[str, Any], int]  # the frame that answers a request, and its length on the wire
# websockets 17 wants connect() as a context manager; a connection shared by two greenlets and
# replaced on resync is held directly, which it allows with legacy=True (older versions always did).
_DIRECT: dict[str, Any] = {"legacy": True} if "legacy" in inspect.signature(connect).parameters else {}


def answer_within(slot: AsyncResult[Answer]) -> Answer:
    """The answer the reader put in ``slot``; gevent.Timeout when none came within ANSWER_TIMEOUT_S."""
    # gevent's stubs allow None (a result set with no value); the readers always set an answer.
    return cast(Answer, slot.get(timeout=ANSWER_TIMEOUT_S))


class WsError(Exception):
    """An error frame, a missing answer or a lost connection, as a locust failure."""


class RoomUser(User):
    """A resident's phone: one websocket to the room, read by its own greenlet."""

    abstract = True
    ws: ClientConnection | None = None
    reader: gevent.Greenlet[[], None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # An event, not a flag: the reader looks again after every blocking call, when it may have been set.
        self.stopping = Event()

    def on_start(self) -> None:
        self.opts = self.environment.parsed_options
        if not self.opts.session_id:
            raise StopUser()
        self.sid = self.opts.session_id
        self.user_id = f"{type(self).__name__.lower()}-{uuid.uuid4().hex[:12]}"
        self.token = token(self.opts, self.user_id, "resident")
        self.last_seq = 0
        # A phone that cannot get in keeps trying; every failed try is reported.
        while not self._connect():
            gevent.sleep(random.uniform(1, 3))
        self.reader = gevent.spawn(self._read_loop)

    def on_stop(self) -> None:
        self.stopping.set()
        if self.ws is not None:
            self.ws.close()
        if self.reader is not None:
            self.reader.kill(block=False)

    def report(self, name: str, started: float, length: int = 0, exc: Exception | None = None,
               elapsed_ms: float | None = None) -> None:
        """One websocket answer (or failure, with ``exc``) into locust's stats, timed from ``started``."""
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
        while not self.stopping.is_set():
            ws = self.ws
            assert ws is not None
            try:
                raw = ws.recv()
            except ConnectionClosed as exc:
                if self.stopping.is_set():
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
        while not self.stopping.is_set() and not self._connect():
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
