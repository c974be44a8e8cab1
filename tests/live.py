"""Helpers for live-room tests: a cluster of real web processes and real websocket clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from websockets.asyncio.client import ClientConnection, connect

from infra.auth import issue_token

SECRET = "test-secret-for-linli-live-rooms-0123456789"


def token(user: str, role: str = "resident", community: str | None = "c1") -> str:
    return issue_token(SECRET, user_id=user, role=role, community_id=community, ttl_s=3600)


def bearer(tok: str) -> dict[str, str]:
    """The header that carries a token (never the URL)."""
    return {"Authorization": f"Bearer {tok}"}


NEIGHBOURS = (("wang", "王玉香"), ("li", "李建国"))  # two residents of c1, as the live-room tests know them


async def neighbours(api: Api, registrar: str) -> None:
    """Community c1 (幸福里) with the residents of NEIGHBOURS, registered by ``registrar``'s token; again
    on a server that has them already changes nothing."""
    operator = token("root", "operator", None)
    status, _ = await api.call("POST", "/api/communities", operator, {"id": "c1", "name": "幸福里"})
    assert status in (201, 409), status
    for rid, name in NEIGHBOURS:
        status, _ = await api.call("POST", "/api/communities/c1/residents", registrar, {"id": rid, "name": name})
        assert status in (201, 409), status


async def live_with_item(api: Api, host: str, item: dict[str, Any], title: str = "周六直播") -> tuple[str, str]:
    """A session of c1 with one item, gone live: its id and the item's."""
    sid = (await api.ok("POST", "/api/sessions", host, {"title": title, "community_id": "c1"}))["id"]
    iid = (await api.ok("POST", f"/api/sessions/{sid}/items", host, item))["id"]
    await api.ok("POST", f"/api/sessions/{sid}/live", host)
    return sid, iid


class Api:
    """A tiny JSON client of one web process."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.base = base

    async def call(self, method: str, path: str, tok: str | None, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {tok}"} if tok else {}
        async with self.http.request(method, self.base + path, json=body, headers=headers) as resp:
            return resp.status, await resp.json()

    async def ok(self, method: str, path: str, tok: str, body: Any = None) -> Any:
        status, data = await self.call(method, path, tok, body)
        assert status in (200, 201), (status, data)
        return data


@dataclass
class Client:
    """One websocket viewer that records every event it receives."""

    ws: ClientConnection
    events: list[dict[str, Any]] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int | None = None

    @classmethod
    async def join(cls, ws_base: str, sid: str, tok: str) -> Client:
        ws = await connect(f"{ws_base}/ws/sessions/{sid}", additional_headers=bearer(tok), max_size=2**20,
                           open_timeout=20)
        client = cls(ws)
        client.reader = asyncio.create_task(client._read())
        await client.wait_for(lambda e: e["type"] == "snapshot")
        return client

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.events.append(json.loads(raw))
        except Exception:  # noqa: BLE001 - the connection ended; the test looks at close_code
            pass
        finally:
            self.close_code = self.ws.protocol.close_code  # ws.close_code only from websockets 14.2
            self.closed.set()

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    async def wait_for(self, pred: Callable[[dict[str, Any]], bool], within_s: float = 10) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + within_s
        seen = 0
        while True:
            for event in self.events[seen:]:
                if pred(event):
                    return event
            seen = len(self.events)
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no matching event within {within_s}s; last: {self.events[-5:]}")
            if self.closed.is_set():
                raise AssertionError(f"connection closed ({self.close_code}) before a matching event")
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        if self.reader:
            with contextlib.suppress(BaseException):
                await self.reader
