"""Hostile websocket frames against a real server: every one gets exactly one ``error`` frame with a
code (never ``internal``), the connection stays open, and the log holds no traceback.

Hypothesis draws the frames: random text and bytes (invalid UTF-8 among them, sent as binary frames),
deep nesting, numbers past 64 bits and past a double, fields of the wrong type, unknown frame types,
and ids crafted to reach another Redis key ("<bag>:entrants"). After each one a sentinel frame with a
known answer shows the connection still reads, and that the hostile frame's answer came first.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.settings import Settings
from linli.app import create_app
from stream.viewer import MAX_MESSAGE as MAX_FRAME
from tests.live import SECRET, Api, Client, live_with_item, token

HOST = token("host1", "host")
OPERATOR = token("root", "operator", None)
RESIDENT = token("wang")
FRAME_TYPES = ("grab", "enter_lucky_bag", "comment", "grab_red_packet", "confirm_hold", "ping")
# What each frame takes, and a value of the right type for each field.
FIELDS: dict[str, dict[str, Any]] = {
    "grab": {"item_id": "i1", "request_id": "r1", "qty": 1},
    "enter_lucky_bag": {"bag_id": "b1", "passphrase": "口令"},
    "comment": {"text": "还有吗"},
    "grab_red_packet": {"packet_id": "p1"},
    "confirm_hold": {"order_id": "o1"},
}
MAX_DEPTH = MAX_FRAME // 2 - 64  # deep, and still within one frame


class Room:
    def __init__(self, client: Client, ids: dict[str, str]) -> None:
        self.client, self.ids, self.sent = client, ids, 0


@pytest.fixture
async def room(redis, engine, tmp_path: Path, redis_url: str, database_url: str) -> AsyncIterator[Room]:
    """A live session with an item, a lucky bag and a red packet, and one resident's connection to it."""
    settings = Settings(data_dir=tmp_path, redis_url=redis_url, database_url=database_url, secret=SECRET,
                        grab_rate=1000)  # the frames' own rate limit is tested elsewhere
    async with TestServer(create_app(settings)) as server, aiohttp.ClientSession() as http:
        api = Api(http, str(server.make_url("")).rstrip("/"))
        await api.ok("POST", "/api/communities", OPERATOR, {"id": "c1", "name": "幸福里"})
        await api.ok("POST", "/api/communities/c1/residents", token("grid1", "grid"), {"id": "wang", "name": "王芳"})
        sid, iid = await live_with_item(api, HOST, {"title": "红薯", "price_cents": 350, "stock": 50})
        bag = await api.ok("POST", f"/api/sessions/{sid}/lucky-bags", HOST,
                           {"title": "福袋", "winners": 1, "countdown_s": 3600, "prize_points": 10})
        packet = await api.ok("POST", f"/api/sessions/{sid}/red-packets", HOST, {"total_points": 10, "shares": 2})
        client = await Client.join(api.base.replace("http", "ws"), sid, RESIDENT)
        try:
            yield Room(client, {"item": iid, "bag": bag["id"], "packet": packet["id"]})
        finally:
            await client.close()


def _json_value() -> st.SearchStrategy[Any]:
    leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8),
                                                                                             inner, max_size=4),
                        max_leaves=12)


def _nested(depth: int, kind: str) -> str:
    return ("[" * depth + "]" * depth) if kind == "list" else ('{"a":' * depth + "1" + "}" * depth)


@st.composite
def deeply_nested(draw: st.DrawFn) -> str:
    shape = draw(st.sampled_from(["list", "dict"]))
    depth = draw(st.integers(33, MAX_DEPTH if shape == "list" else MAX_DEPTH // 3))
    nested = _nested(depth, shape)
    kind = draw(st.sampled_from(FRAME_TYPES))
    where = draw(st.sampled_from(["top", "unknown_field", "known_field"]))
    if where == "top":
        return nested
    field = "extra" if where == "unknown_field" else draw(st.sampled_from([*FIELDS.get(kind, {"x": 0})]))
    return f'{{"type":"{kind}","{field}":{nested}}}'


@st.composite
def huge_number(draw: st.DrawFn) -> str:
    number = draw(st.sampled_from(["1e400", "-1e400", "1e20", "-1e15", "99999999999999999999", str(2**64),
                                   str(-(2**63) - 1), "1" * 5000, "0.5", "-0"]))
    kind, field = draw(st.sampled_from([("grab", "qty"), ("grab", "item_id"), ("confirm_hold", "order_id"),
                                        ("grab_red_packet", "packet_id"), ("comment", "text")]))
    others = {k: v for k, v in FIELDS[kind].items() if k != field}
    return json.dumps({"type": kind, **others})[:-1] + f', "{field}": {number}}}'


@st.composite
def wrong_type(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from([*FIELDS]))
    fields = FIELDS[kind]
    field = draw(st.sampled_from([*fields]))
    value = draw(_json_value().filter(lambda v: type(v) is not type(fields[field]) and v is not None))
    return json.dumps({"type": kind, **fields, field: value})


@st.composite
def unknown_type(draw: st.DrawFn) -> str:
    kind = draw(st.text(max_size=30).filter(lambda t: t not in FRAME_TYPES) | _json_value())
    more = draw(st.dictionaries(st.text(max_size=10).filter(lambda k: k != "type"), _json_value(), max_size=3))
    return json.dumps({"type": kind, **more})


@st.composite
def crafted_id(draw: st.DrawFn) -> tuple[str, str]:
    """A frame whose id names another key of the session, or breaks out of its hash tag; filled in with a
    real id of the room (``{bag}``, ``{packet}``, ``{item}``) when sent."""
    suffix = draw(st.sampled_from([":entrants", ":takers", ":shares", ":", "}", "{s:x}", "\n", " ", "*", "/..",
                                   ":" + "x" * 70]))
    kind, field, base = draw(st.sampled_from([("enter_lucky_bag", "bag_id", "bag"),
                                              ("grab_red_packet", "packet_id", "packet"),
                                              ("grab", "item_id", "item")]))
    return json.dumps({**FIELDS[kind], "type": kind, field: "{" + base + "}" + suffix}), base


@st.composite
def bad_comment(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(["", "   ", "\n\t", "长" * 201, "x" * 1000]))
    return json.dumps({"type": "comment", "text": text}, ensure_ascii=False)


# Text a websocket can carry: no lone surrogates (they cannot be encoded as UTF-8 at all).
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=200)
HOSTILE = st.one_of(
    TEXT.map(lambda t: ("text", t)),
    st.binary(max_size=200).map(lambda b: ("binary", b)),
    deeply_nested().map(lambda t: ("text", t)),
    huge_number().map(lambda t: ("text", t)),
    wrong_type().map(lambda t: ("text", t)),
    unknown_type().map(lambda t: ("text", t)),
    crafted_id().map(lambda pair: ("crafted", pair)),
    bad_comment().map(lambda t: ("text", t)),
)


async def _answers_to(room: Room, kind: str, payload: Any) -> list[dict[str, Any]]:
    """Send one frame, then the sentinel; every frame the server sent to this viewer in between."""
    client = room.client
    room.sent += 1
    sentinel = f"sync-{room.sent}"
    start = len(client.events)
    if kind == "binary":
        await client.ws.send(payload)
    elif kind == "crafted":
        frame, base = payload
        await client.ws.send(frame.replace("{" + base + "}", room.ids[base]))
    else:
        await client.ws.send(payload)
    await client.send({"type": "confirm_hold", "order_id": sentinel})
    await client.wait_for(lambda e: e["type"] == "error" and sentinel in e.get("message", ""), within_s=10)
    replies = [e for e in client.events[start:] if "seq" not in e]  # broadcast events carry seq
    return replies[:-1]  # the sentinel's own answer is the last


@settings(max_examples=int(os.environ.get("LINLI_FUZZ_FRAMES", "300")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(frame=HOSTILE)
async def test_every_hostile_frame_gets_one_error_and_the_connection_stays(
        room: Room, caplog: pytest.LogCaptureFixture, frame: tuple[str, Any]) -> None:
    """Random and hostile frames each get one error frame with a code, never internal, and no traceback."""
    caplog.set_level(logging.WARNING)
    kind, payload = frame
    replies = await _answers_to(room, kind, payload)
    assert len(replies) == 1, (frame, replies)
    assert replies[0]["type"] == "error" and replies[0]["code"] not in ("", "internal"), (frame, replies)
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]


async def test_named_hostile_frames_get_their_codes(room: Room, caplog: pytest.LogCaptureFixture) -> None:
    """The frames issue 12 names: deep nesting is bad_frame (it was internal plus a traceback), a bag or
    packet id reaching another key is bad_frame, invalid UTF-8 as binary is bad_frame; the socket stays."""
    bag, packet = room.ids["bag"], room.ids["packet"]
    cases = [
        ("text", '{"type":"ping","x":' + _nested(MAX_DEPTH, "list") + "}", "bad_frame"),
        ("text", '{"type":"comment","text":"hi","x":' + _nested(MAX_DEPTH // 3, "dict") + "}", "bad_frame"),
        ("text", json.dumps({"type": "enter_lucky_bag", "bag_id": f"{bag}:entrants"}), "bad_frame"),
        ("text", json.dumps({"type": "grab_red_packet", "packet_id": f"{packet}:takers"}), "bad_frame"),
        ("text", json.dumps({"type": "grab_red_packet", "packet_id": f"{packet}:shares"}), "bad_frame"),
        ("binary", b"\xff\xfe\x00garbage", "bad_frame"),
        ("text", '{"type":"grab","item_id":"i1","request_id":"r9","qty":1e400}', "bad_frame"),
        ("text", '{"type":"grab","item_id":"i1","request_id":"r9","qty":99999999999999999999}', "bad_request"),
        ("text", json.dumps({"type": "teleport"}), "bad_frame"),
    ]
    for kind, payload, code in cases:
        replies = await _answers_to(room, kind, payload)
        assert [r.get("code") for r in replies] == [code], (payload[:80], replies)
    assert not [r for r in caplog.records if r.exc_info]
    # The bag and the packet are as they were: nothing was entered or taken through the crafted ids.
    await room.client.send({"type": "grab_red_packet", "packet_id": packet})
    result = await room.client.wait_for(lambda e: e["type"] == "red_packet_result")
    assert result["ok"], result
