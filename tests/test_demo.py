"""The demo, as a newcomer starts it: `linli serve --demo`, a community's whole week."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
from websockets.asyncio.client import connect

from infra.redis_server import free_port
from tests.servers import linli_env


async def _snapshot(base: str, sid: str, tok: str) -> dict[str, Any]:
    for _ in range(50):
        try:
            async with connect(f"{base.replace('http://', 'ws://')}/ws/sessions/{sid}",
                               additional_headers={"Authorization": f"Bearer {tok}"}) as ws:
                return dict(json.loads(await ws.recv()))
        except OSError:
            await asyncio.sleep(0.1)
    raise AssertionError("the live room never answered")


async def test_serve_demo_shows_the_whole_week(tmp_path: Path) -> None:
    """`linli serve --demo` prints the pages; today's live has items, the earlier window's holds (one kept,
    one not) and its surplus on sale; the next live's window is open with two suppliers' products and a few
    wishes; residents sit in a grid worker's grid; the supplier board is not empty; no link carries a token."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "linli", "serve", "--demo", "--port", str(port)],
                            env=linli_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines: list[str] = []
        while not any("demo-orchard" in line for line in lines[-1:]):
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)  # type: ignore[union-attr]
            assert line, "serve --demo exited early"
            lines.append(line)
        base = re.search(r"(http://[\d.:]+)/", lines[0]).group(1)  # type: ignore[union-attr]
        # The log gets links to the chooser, one per person, never a token.
        assert not any("eyJ" in line or "token" in line for line in lines)
        assert f"{base}/?as=wang-ayi" in "".join(lines) and f"{base}/?as=demo-host" in "".join(lines)
        async with aiohttp.ClientSession() as http:
            for _ in range(100):  # the lines are printed just before the server starts listening
                try:
                    async with http.get(base + "/api/demo") as resp:
                        demo = await resp.json()
                        break
                except aiohttp.ClientConnectorError:
                    await asyncio.sleep(0.1)

            async def get(path: str, tok: str) -> Any:
                async with http.get(base + path, headers={"Authorization": f"Bearer {tok}"}) as resp:
                    assert resp.status == 200, (path, resp.status, await resp.text())
                    return await resp.json()

            people = {p["user_id"]: p for p in demo["people"]}
            # Relayed by a proxy on this machine, anyone could be asking: no tokens then.
            async with http.get(base + "/api/demo", headers={"X-Forwarded-For": "203.0.113.9"}) as resp:
                assert resp.status == 403 and (await resp.json())["error"]["code"] == "demo_local_only"
            roles = [p["role"] for p in demo["people"]]
            assert roles == ["resident"] * 3 + ["host", "grid", "pickup", "supplier", "supplier", "admin"]
            for p in demo["people"]:
                assert all("token" not in link["url"] for link in p["links"])
                for link in p["links"]:
                    async with http.get(base + link["url"]) as resp:
                        assert resp.status == 200, link
            sid = demo["session_id"]
            wang, li = people["wang-ayi"]["token"], people["li-dashu"]["token"]

            snap = await _snapshot(base, sid, wang)
            assert snap["status"] == "live"
            titles = {i["title"]: i for i in snap["items"]}
            assert {"海鸭蛋", "新小米", "红薯", "苹果"} <= set(titles)
            assert titles["红薯"]["on_sale"] and titles["红薯"]["left"] == 5  # 40斤 ordered, 35 held
            assert [(h["qty"], h["status"]) for h in snap["holds"]] == [(10, "confirmed")]
            li_holds = (await _snapshot(base, sid, li))["holds"]
            assert sorted((h["qty"], h["status"]) for h in li_holds) == [(20, "reserved"), (30, "reserved")]

            windows = (await get("/api/communities/demo/wish-windows", wang))["windows"]
            assert [(w["accepting"], w["status"]) for w in windows] == [(True, "open"), (False, "aggregated")]
            nxt = await get(f"/api/wish-windows/{windows[0]['id']}", wang)
            assert {p["supplier_id"] for p in nxt["products"]} == {"demo-farm", "demo-orchard"}
            assert [w["qty"] for w in nxt["my_wishes"]] == [10]
            earlier = await get(f"/api/wish-windows/{windows[1]['id']}", wang)
            outcomes = sorted(w["outcome"]["status"] for w in earlier["my_wishes"])
            assert outcomes == ["held", "not_viable"]

            residents = (await get("/api/communities/demo/residents", people["demo-grid"]["token"]))["residents"]
            assert len(residents) == 5 and all(r["building"] and r["room"] for r in residents)
            for supplier in ("demo-farm", "demo-orchard"):
                orders = (await get("/api/supplier/orders", people[supplier]["token"]))["orders"]
                assert len(orders) == 1 and orders[0]["lines"]
    finally:
        proc.terminate()
        proc.wait(15)
        proc.stdout.close()  # type: ignore[union-attr]


def test_the_demo_people_go_to_this_machine_only() -> None:
    """Loopback callers (IPv4, IPv6, IPv4-mapped) get the demo's people; any other address, a request
    relayed by a proxy, or one with no address does not."""
    from aiohttp.test_utils import make_mocked_request

    from linli.demo import is_local_client

    def asking(remote: str | None, **headers: str) -> bool:
        return is_local_client(make_mocked_request("GET", "/api/demo", headers=headers).clone(remote=remote))

    assert asking("127.0.0.1") and asking("::1") and asking("::ffff:127.0.0.1")
    assert not asking("192.0.2.7") and not asking("fd00::2") and not asking(None) and not asking("unix")
    assert not asking("127.0.0.1", **{"X-Forwarded-For": "198.51.100.4"})
    assert not asking("127.0.0.1", Forwarded="for=198.51.100.4")
