"""inventory.reserve and friends against a real Redis server: each rule, one test."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio.connection import Connection

from inventory import InvalidInput, Inventory, UnknownItem, UnknownOrder, keys
from inventory.batcher import pack_evalsha


async def _item(inv: Inventory, stock: int = 10, limit: int = 0, price: int = 500, open_sale: bool = True) -> None:
    await inv.load_stock("s1", "i1", add=stock, per_user_limit=limit, price_cents=price)
    if open_sale:
        await inv.open_sale("s1", "i1")


async def test_reserve_takes_stock_and_writes_the_outbox(inventory: Inventory) -> None:
    """A successful reserve decrements stock, counts the user and appends one outbox entry."""
    await _item(inventory, stock=5)
    r = await inventory.reserve("s1", "i1", "u1", 2, "r1")
    assert r.ok and r.order_id == "s1-1" and r.left == 3 and not r.repeated
    snap = await inventory.snapshot("s1")
    assert snap["i1"].left == 3 and snap["i1"].sold == 2
    assert await inventory.held_by("s1", "i1", "u1") == 2
    entries = await inventory.redis.xrange(keys.outbox("s1"))
    assert len(entries) == 1
    fields = entries[0][1]
    assert fields[b"order"] == b"s1-1" and fields[b"qty"] == b"2" and fields[b"price"] == b"500"


async def test_sold_out_and_not_enough(inventory: Inventory) -> None:
    """Asking for more than is left says not_enough; asking when nothing is left says sold_out."""
    await _item(inventory, stock=3)
    assert (await inventory.reserve("s1", "i1", "u1", 4, "a")).reason == "not_enough"
    assert (await inventory.reserve("s1", "i1", "u1", 3, "b")).ok
    r = await inventory.reserve("s1", "i1", "u2", 1, "c")
    assert r.reason == "sold_out" and r.left == 0
    assert await inventory.redis.xlen(keys.outbox("s1")) == 1


async def test_per_user_limit(inventory: Inventory) -> None:
    """A user cannot hold more than the per-user limit across several grabs."""
    await _item(inventory, stock=10, limit=2)
    assert (await inventory.reserve("s1", "i1", "u1", 1, "a")).ok
    assert (await inventory.reserve("s1", "i1", "u1", 2, "b")).reason == "limit"
    assert (await inventory.reserve("s1", "i1", "u1", 1, "c")).ok
    assert (await inventory.reserve("s1", "i1", "u1", 1, "d")).reason == "limit"
    assert (await inventory.reserve("s1", "i1", "u2", 2, "e")).ok


async def test_not_on_sale_before_open_after_close_and_after_deadline(inventory: Inventory) -> None:
    """Grabs need an open sale whose deadline has not passed."""
    await _item(inventory, open_sale=False)
    assert (await inventory.reserve("s1", "i1", "u1", 1, "a")).reason == "not_on_sale"
    await inventory.open_sale("s1", "i1")
    assert (await inventory.reserve("s1", "i1", "u1", 1, "b")).ok
    await inventory.close_sale("s1", "i1")
    assert (await inventory.reserve("s1", "i1", "u1", 1, "c")).reason == "not_on_sale"
    await inventory.open_sale("s1", "i1", ends_at_ms=int(time.time() * 1000) + 150)
    assert (await inventory.reserve("s1", "i1", "u1", 1, "d")).ok
    await asyncio.sleep(0.3)
    assert (await inventory.reserve("s1", "i1", "u1", 1, "e")).reason == "not_on_sale"


async def test_holds_and_prizes_need_no_open_sale_and_prizes_cost_nothing(inventory: Inventory) -> None:
    """System-placed holds and prizes bypass the sale window; a prize order is priced 0."""
    await _item(inventory, open_sale=False, price=900)
    assert (await inventory.reserve("s1", "i1", "u1", 2, "h", kind="hold")).ok
    assert (await inventory.reserve("s1", "i1", "u2", 1, "p", kind="prize")).ok
    prices = [e[1][b"price"] for e in await inventory.redis.xrange(keys.outbox("s1"))]
    assert prices == [b"900", b"0"]


async def test_repeated_request_id_returns_first_answer_and_changes_nothing(inventory: Inventory) -> None:
    """The same request id twice: same order id, stock taken once, one outbox entry."""
    await _item(inventory, stock=5)
    first = await inventory.reserve("s1", "i1", "u1", 1, "same")
    again = await inventory.reserve("s1", "i1", "u1", 1, "same")
    assert again.ok and again.order_id == first.order_id and again.repeated
    assert (await inventory.snapshot("s1"))["i1"].left == 4
    assert await inventory.redis.xlen(keys.outbox("s1")) == 1
    # A refusal is remembered too: the retried request gets the same refusal.
    await inventory.close_sale("s1", "i1")
    no = await inventory.reserve("s1", "i1", "u1", 1, "late")
    await inventory.open_sale("s1", "i1")
    assert (await inventory.reserve("s1", "i1", "u1", 1, "late")).reason == no.reason == "not_on_sale"


async def test_request_ids_belong_to_their_user(inventory: Inventory) -> None:
    """Two users may pick the same request id without colliding."""
    await _item(inventory, stock=5)
    a = await inventory.reserve("s1", "i1", "u1", 1, "r")
    b = await inventory.reserve("s1", "i1", "u2", 1, "r")
    assert a.ok and b.ok and a.order_id != b.order_id


@pytest.mark.parametrize("qty", [0, -1, 1.5, True, "2", 10_001])
async def test_bad_quantity_is_refused_and_changes_nothing(inventory: Inventory, qty: object) -> None:
    """Non-positive, fractional, boolean, textual or absurd quantities are clear errors."""
    await _item(inventory, stock=5)
    with pytest.raises(InvalidInput, match="quantity"):
        await inventory.reserve("s1", "i1", "u1", qty, "r")  # type: ignore[arg-type]
    assert (await inventory.snapshot("s1"))["i1"].left == 5
    assert await inventory.redis.xlen(keys.outbox("s1")) == 0


async def test_long_request_id_is_refused(inventory: Inventory) -> None:
    """A request id over 64 bytes (counted in UTF-8) is a clear error, nothing changed."""
    await _item(inventory, stock=5)
    with pytest.raises(InvalidInput, match="64 bytes"):
        await inventory.reserve("s1", "i1", "u1", 1, "抢" * 22)  # 66 bytes, 22 characters
    with pytest.raises(InvalidInput, match="required"):
        await inventory.reserve("s1", "i1", "u1", 1, "")
    assert (await inventory.reserve("s1", "i1", "u1", 1, "x" * 64)).ok
    assert (await inventory.snapshot("s1"))["i1"].left == 4


async def test_unknown_item_or_session_is_a_clear_error(inventory: Inventory) -> None:
    """Reserving in a session or item that does not exist raises UnknownItem, writing nothing."""
    await _item(inventory, stock=5)
    with pytest.raises(UnknownItem):
        await inventory.reserve("s1", "nope", "u1", 1, "r")
    with pytest.raises(UnknownItem):
        await inventory.reserve("nosuch", "i1", "u1", 1, "r")
    with pytest.raises(UnknownItem):
        await inventory.open_sale("s1", "nope")
    assert await inventory.redis.exists(keys.outbox("nosuch")) == 0


@pytest.mark.parametrize("bad", ["", "has space", "{s:x}", "x" * 65, "a:b"])
async def test_ids_that_would_break_keys_are_refused(inventory: Inventory, bad: str) -> None:
    """Ids end up inside Redis keys, so braces, colons, spaces and long ids are refused."""
    with pytest.raises(InvalidInput):
        await inventory.load_stock(bad, "i1", add=1)
    with pytest.raises(InvalidInput):
        await inventory.reserve("s1", bad, "u1", 1, "r")


async def test_release_returns_stock_exactly_once(inventory: Inventory) -> None:
    """Releasing an order puts its units back once; a second release is a no-op."""
    await _item(inventory, stock=2, limit=2)
    r = await inventory.reserve("s1", "i1", "u1", 2, "a")
    assert await inventory.release("s1", r.order_id, why="cancel") == 2
    assert await inventory.release("s1", r.order_id) is None
    snap = (await inventory.snapshot("s1"))["i1"]
    assert snap.left == 2 and snap.sold == 0
    assert await inventory.held_by("s1", "i1", "u1") == 0
    # The units can be grabbed again, and the limit counts only what is held.
    assert (await inventory.reserve("s1", "i1", "u1", 2, "b")).ok
    with pytest.raises(UnknownOrder):
        await inventory.release("s1", "s1-999")


async def test_restock_adds_units_and_updates_limit(inventory: Inventory) -> None:
    """Loading an existing item adds to what is left and takes the new limit and price."""
    await _item(inventory, stock=1, limit=1)
    assert (await inventory.reserve("s1", "i1", "u1", 1, "a")).ok
    assert await inventory.load_stock("s1", "i1", add=5, per_user_limit=3, price_cents=450) == 5
    snap = (await inventory.snapshot("s1"))["i1"]
    assert (snap.left, snap.sold, snap.per_user_limit, snap.price_cents) == (5, 1, 3, 450)
    with pytest.raises(InvalidInput):
        await inventory.load_stock("s1", "i1", add=-1)


async def test_open_and_close_are_idempotent_and_deadline_scoped(inventory: Inventory) -> None:
    """Opening twice or closing twice changes state once; an old sale's timer cannot close a new sale."""
    await _item(inventory, open_sale=False)
    assert await inventory.open_sale("s1", "i1", ends_at_ms=111) is True
    assert await inventory.open_sale("s1", "i1", ends_at_ms=111) is False
    assert await inventory.close_sale("s1", "i1", ends_at_ms=111) is True
    assert await inventory.close_sale("s1", "i1", ends_at_ms=111) is False
    far = int(time.time() * 1000) + 60_000
    await inventory.open_sale("s1", "i1", ends_at_ms=far, price_cents=300, per_user_limit=1)
    assert await inventory.close_sale("s1", "i1", ends_at_ms=111) is False  # the old timer
    snap = (await inventory.snapshot("s1"))["i1"]
    assert snap.on_sale and snap.price_cents == 300 and snap.per_user_limit == 1


async def test_snapshot_of_unknown_session_is_empty(inventory: Inventory) -> None:
    """A session with no items has an empty snapshot."""
    assert await inventory.snapshot("empty") == {}


@given(keys=st.lists(st.text(), max_size=12),
       args=st.lists(st.one_of(st.text(), st.binary(), st.integers(-2**63, 2**63)), max_size=16))
def test_evalsha_is_packed_as_redis_py_packs_it(keys: list[str], args: list[object]) -> None:
    """The batches' hand-packed EVALSHA is byte for byte redis-py's, ASCII or not, bytes or text."""
    sha = "e0e1f9fabfc9d4800c877a703b823ac0578ff831"
    assert pack_evalsha(sha, keys, args) == b"".join(Connection().pack_command("EVALSHA", sha, len(keys), *keys, *args))
