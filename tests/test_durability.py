"""The durability option: a grab acknowledged only once the AOF holding it is on disk (WAITAOF)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from infra.redis_server import WAITAOF_SINCE, EmbeddedRedis, binary_version
from infra.resources import redis_client
from inventory import DurabilityUnavailable, Inventory


async def test_reserves_wait_for_the_aof_on_a_server_that_has_waitaof(tmp_path: Path) -> None:
    """With wait_aof, 200 concurrent reserves are all answered, each after its batch's WAITAOF;
    the embedded server picked for it has WAITAOF whatever redis-server is on PATH."""
    server = EmbeddedRedis(tmp_path, waitaof=True, hz=100)
    assert binary_version(server.binary) >= WAITAOF_SINCE
    client = redis_client(await server.start())
    try:
        inv = Inventory(client, wait_aof=True)
        assert "WAITAOF" in await inv.durability()
        await inv.load_stock("d", "i1", add=150, price_cents=1)
        await inv.open_sale("d", "i1")
        results = await asyncio.gather(*(inv.reserve("d", "i1", f"u{n}", 1, "r") for n in range(200)))
        assert sum(r.ok for r in results) == 150
        assert {r.reason for r in results if not r.ok} == {"sold_out"}
        assert (await client.info("persistence"))["aof_last_write_status"] == "ok"
    finally:
        await client.aclose()
        await server.stop()


async def test_a_server_without_waitaof_is_explained(tmp_path: Path) -> None:
    """On a server older than 7.2 the option is refused at start with what to do instead."""
    found = shutil.which("redis-server")
    if not found or binary_version(Path(found)) >= WAITAOF_SINCE:
        pytest.skip("no redis-server older than 7.2 on this machine")
    server = EmbeddedRedis(tmp_path, binary=Path(found))
    client = redis_client(await server.start())
    try:
        with pytest.raises(DurabilityUnavailable, match=r"Redis 7\.2.*LINLI_REDIS_APPENDFSYNC=always"):
            await Inventory(client, wait_aof=True).durability()
        # Without the option the same server serves as before.
        assert "acknowledged once Redis ran the call" in await Inventory(client).durability()
    finally:
        await client.aclose()
        await server.stop()
