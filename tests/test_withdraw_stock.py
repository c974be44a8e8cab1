"""Withdrawing stock for good (a supplier's shortfall): never more than is unreserved, once per request id."""

from __future__ import annotations

import asyncio
import random

import pytest

from inventory import Inventory, UnknownItem


async def test_withdrawals_racing_grabs_take_exactly_the_stock_and_repeat_nothing(inventory: Inventory) -> None:
    """200 units, 150 grabs of 1 and 60 withdrawals of 2 at once, each withdrawal sent twice:
    grabbed + withdrawn == 200 exactly, a repeated request takes nothing more, and left ends at 0."""
    await inventory.load_stock("s1", "i1", add=200, price_cents=100)
    await inventory.open_sale("s1", "i1")
    calls = [("grab", n) for n in range(150)] + [("withdraw", n) for n in range(60)] * 2
    random.Random(3).shuffle(calls)

    async def one(kind: str, n: int) -> tuple[str, int, int]:
        if kind == "grab":
            r = await inventory.reserve("s1", "i1", f"u{n}", 1, f"g{n}")
            return kind, n, 1 if r.ok else 0
        taken, _ = await inventory.withdraw_stock("s1", "i1", 2, f"w{n}")
        return kind, n, taken

    results = await asyncio.gather(*(one(k, n) for k, n in calls))
    grabbed = sum(q for k, _, q in results if k == "grab")
    withdrawn: dict[int, set[int]] = {}
    for kind, n, q in results:
        if kind == "withdraw":
            withdrawn.setdefault(n, set()).add(q)
    assert all(len(answers) == 1 for answers in withdrawn.values())  # the repeat got the first answer
    taken = sum(next(iter(a)) for a in withdrawn.values())
    assert grabbed + taken == 200
    snap = (await inventory.snapshot("s1"))["i1"]
    assert snap.left == 0 and snap.sold == grabbed


async def test_a_withdrawal_leaves_reserved_units_alone(inventory: Inventory) -> None:
    """Units held by orders stay with them: only what is left can be withdrawn; an unknown item is an error."""
    await inventory.load_stock("s2", "i1", add=10, price_cents=100)
    hold = await inventory.reserve("s2", "i1", "wang", 7, "h1", kind="hold")
    assert hold.ok
    assert await inventory.withdraw_stock("s2", "i1", 5, "w1") == (3, 0)
    assert await inventory.withdraw_stock("s2", "i1", 5, "w1") == (3, 0)
    assert await inventory.held_by("s2", "i1", "wang") == 7
    with pytest.raises(UnknownItem):
        await inventory.withdraw_stock("s2", "nope", 1, "w2")
