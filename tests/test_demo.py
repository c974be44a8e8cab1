"""The demo, as a newcomer starts it: `linli serve --demo`."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import aiohttp
from websockets.asyncio.client import connect

from infra.redis_server import free_port
from tests.servers import linli_env


async def test_serve_demo_opens_onto_a_live_session_a_resident_can_join(tmp_path: Path) -> None:
    """`linli serve --demo` prints a live session and resident links that work."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "linli", "serve", "--demo", "--port", str(port)],
                            env=linli_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines = []
        while not any("supplier" in line for line in lines[-1:]):
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)  # type: ignore[union-attr]
            assert line, "serve --demo exited early"
            lines.append(line)
        page = re.search(r"(http://\S+/live/\S+)", "".join(lines)).group(1)  # type: ignore[union-attr]
        async with aiohttp.ClientSession() as http:
            for _ in range(100):  # the lines are printed just before the server starts listening
                try:
                    async with http.get(page) as resp:
                        assert resp.status == 200 and "邻里直播间" in await resp.text()
                        break
                except aiohttp.ClientConnectorError:
                    await asyncio.sleep(0.1)
        url = page.replace("http://", "ws://").replace("/live/", "/ws/sessions/")
        for _ in range(50):
            try:
                async with connect(url) as ws:
                    snapshot = json.loads(await ws.recv())
                break
            except OSError:
                await asyncio.sleep(0.1)
        assert snapshot["type"] == "snapshot" and snapshot["status"] == "live"
        assert [i["title"] for i in snapshot["items"]] == ["本地红薯", "海鸭蛋", "新小米"]
    finally:
        proc.terminate()
        proc.wait(15)
        proc.stdout.close()  # type: ignore[union-attr]
