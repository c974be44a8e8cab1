"""Aggregation rules (MOQ, whole cases, capacity, price tiers), the CLI, and the SQL path's agreement."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from crowdfund.aggregate import AggregationError, Catalog, Product, Tier, Wish, aggregate
from crowdfund.commands import aggregate_cmd
from crowdfund.cutoff import aggregate_window
from infra.tables import communities, live_sessions, wish_lines, wish_windows


def product(pid: str = "a", *, case: int = 10, moq: int = 30, capacity: int = 1000, supplier: str = "s1",
            tiers: list[tuple[int, int]] | None = None) -> Product:
    return Product(id=pid, name=pid, supplier_id=supplier, unit="斤", case_size=case, moq=moq, capacity=capacity,
                   tiers=[Tier(min_qty=m, price_cents=p) for m, p in (tiers or [(0, 400), (50, 350), (100, 300)])])


def wish(resident: str, qty: int, pid: str = "a", point: str = "p1") -> Wish:
    return Wish(resident_id=resident, product_id=pid, qty=qty, pickup_point_id=point)


def line_of(result, pid: str = "a"):  # type: ignore[no-untyped-def]
    return next(ln for o in result.supplier_orders for ln in o.lines if ln.product_id == pid)


def test_exactly_the_moq_is_viable_one_below_is_not() -> None:
    """Wished total equal to the MOQ orders; one unit less is not viable."""
    assert line_of(aggregate(Catalog(products=[product()]), [wish("r1", 30)])).order_qty == 30
    below = aggregate(Catalog(products=[product()]), [wish("r1", 29)])
    assert below.supplier_orders == []
    assert [(n.product_id, n.wished_qty, n.moq) for n in below.not_viable] == [("a", 29, 30)]


def test_an_exact_case_multiple_has_no_surplus_and_rounding_up_makes_some() -> None:
    """40 wished in cases of 10 orders 40; 41 orders 50 with 9 surplus for the flash sale."""
    exact = aggregate(Catalog(products=[product()]), [wish("r1", 40)])
    assert line_of(exact).order_qty == 40 and exact.surplus == []
    up = aggregate(Catalog(products=[product()]), [wish("r1", 41)])
    assert line_of(up).order_qty == 50 and [(s.product_id, s.qty) for s in up.surplus] == [("a", 9)]


def test_capacity_below_wishes_fills_in_submission_order() -> None:
    """Capacity 35 in cases of 10 means 30: first wishes filled, the next partly, the rest short."""
    result = aggregate(Catalog(products=[product(capacity=35, moq=0)]),
                       [wish("r1", 20), wish("r2", 15, point="p2"), wish("r3", 5)])
    ln = line_of(result)
    assert (ln.wished_qty, ln.order_qty) == (40, 30) and ln.by_pickup_point == {"p1": 20, "p2": 10}
    assert [(s.resident_id, s.qty) for s in result.shortfall] == [("r2", 5), ("r3", 5)]
    assert result.surplus == []


def test_capacity_below_one_case_orders_nothing() -> None:
    """A capacity smaller than a case rounds down to zero: every wish is shortfall, no line."""
    result = aggregate(Catalog(products=[product(capacity=9, moq=0)]), [wish("r1", 3), wish("r2", 4)])
    assert result.supplier_orders == [] and [(s.resident_id, s.qty) for s in result.shortfall] == [("r1", 3), ("r2", 4)]


@pytest.mark.parametrize(("wished", "order", "price"), [(49, 50, 350), (50, 50, 350), (41, 50, 350), (31, 40, 400),
                                                        (99, 100, 300), (100, 100, 300)])
def test_the_tier_is_chosen_by_the_order_quantity(wished: int, order: int, price: int) -> None:
    """The unit price is the tier with the highest min_qty not above the ordered (not wished) quantity."""
    ln = line_of(aggregate(Catalog(products=[product()]), [wish("r1", wished)]))
    assert (ln.order_qty, ln.unit_price_cents, ln.total_cents) == (order, price, order * price)


def test_several_suppliers_and_pickup_points() -> None:
    """Orders are grouped per supplier and sorted; quantities split per pickup point."""
    cat = Catalog(products=[product("b", supplier="s2", case=1, moq=1), product("a", case=1, moq=1),
                            product("c", supplier="s2", case=1, moq=1)])
    result = aggregate(cat, [wish("r1", 2, "c", "p1"), wish("r2", 3, "a", "p2"), wish("r3", 4, "b", "p1"),
                             wish("r4", 1, "c", "p2")])
    assert [(o.supplier_id, [ln.product_id for ln in o.lines]) for o in result.supplier_orders] == [
        ("s1", ["a"]), ("s2", ["b", "c"])]
    assert line_of(result, "c").by_pickup_point == {"p1": 2, "p2": 1}


def test_a_product_without_tiers_applies_its_lowest_tier_below_every_min_qty() -> None:
    """When no tier starts at or below the order quantity, the lowest tier's price applies."""
    ln = line_of(aggregate(Catalog(products=[product(tiers=[(100, 300), (50, 350)], moq=0)]), [wish("r1", 10)]))
    assert ln.unit_price_cents == 350


@pytest.mark.parametrize(("cat", "wishes"), [
    (Catalog(products=[product()]), [wish("r1", 5, "nope")]),
    (Catalog(products=[product()]), [wish("r1", 0)]),
    (Catalog(products=[product(case=0)]), [wish("r1", 5)]),
    (Catalog(products=[msgspec.structs.replace(product(), tiers=[])]), [wish("r1", 5)]),
    (Catalog(products=[product(capacity=-1)]), [wish("r1", 5)]),
])
def test_bad_input_is_a_clear_error(cat: Catalog, wishes: list[Wish]) -> None:
    """Unknown products, non-positive quantities and broken products raise AggregationError."""
    with pytest.raises(AggregationError):
        aggregate(cat, wishes)


catalogs = st.lists(st.builds(
    lambda i, case, moq, cap, supplier: product(f"p{i}", case=case, moq=moq, capacity=cap, supplier=f"s{supplier}"),
    st.integers(0, 5), st.integers(1, 12), st.integers(0, 60), st.integers(0, 200), st.integers(0, 2)),
    min_size=1, max_size=6, unique_by=lambda p: p.id)


@given(cat=catalogs, raw=st.lists(st.tuples(st.integers(0, 5), st.integers(1, 30), st.integers(0, 3)), max_size=40))
def test_the_books_balance_for_any_catalog(cat: list[Product], raw: list[tuple[int, int, int]]) -> None:
    """Filled + shortfall == wished, orders are whole cases within capacity, surplus is the rest."""
    ids = [p.id for p in cat]
    wishes = [wish(f"r{n}", qty, ids[i % len(ids)], f"p{pt}") for n, (i, qty, pt) in enumerate(raw)]
    result = aggregate(Catalog(products=cat), wishes)
    products = {p.id: p for p in cat}
    short = {}
    for s in result.shortfall:
        short[s.product_id] = short.get(s.product_id, 0) + s.qty
    surplus = {s.product_id: s.qty for s in result.surplus}
    for o in result.supplier_orders:
        for ln in o.lines:
            p = products[ln.product_id]
            filled = sum(ln.by_pickup_point.values())
            assert filled + short.get(ln.product_id, 0) == ln.wished_qty
            assert ln.order_qty % p.case_size == 0 and ln.order_qty <= p.capacity
            assert surplus.get(ln.product_id, 0) == ln.order_qty - filled
            assert ln.wished_qty >= p.moq


def test_cli_aggregates_and_refuses_bad_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`linli aggregate CATALOG WISHES` prints the documented JSON; a bad file is exit 2 with a message."""
    cat = tmp_path / "catalog.json"
    cat.write_text(json.dumps({"products": [{
        "id": "a", "name": "红薯", "supplier_id": "s", "unit": "斤", "case_size": 10, "moq": 5, "capacity": 100,
        "tiers": [{"min_qty": 0, "price_cents": 400}]}]}))
    good = tmp_path / "wishes.json"
    good.write_text(json.dumps(
        {"wishes": [{"resident_id": "r1", "product_id": "a", "qty": 7, "pickup_point_id": "p1"}]}))
    out = CliRunner().invoke(aggregate_cmd, [str(cat), str(good)])
    assert out.exit_code == 0
    assert json.loads(out.output) == {
        "supplier_orders": [{"supplier_id": "s", "lines": [{"product_id": "a", "wished_qty": 7, "order_qty": 10,
                                                            "unit_price_cents": 400, "total_cents": 4000,
                                                            "by_pickup_point": {"p1": 7}}]}],
        "not_viable": [], "surplus": [{"product_id": "a", "qty": 3}], "shortfall": []}
    bad = tmp_path / "bad.json"
    bad.write_text('{"wishes": [{"resident_id": "r1"}]}')
    out = CliRunner().invoke(aggregate_cmd, [str(cat), str(bad)])
    assert out.exit_code == 2 and "cannot aggregate" in out.output


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cat=catalogs, raw=st.lists(st.tuples(st.integers(0, 5), st.integers(1, 30), st.integers(0, 3)), max_size=40))
async def test_the_sql_path_agrees_with_the_pure_function(engine: AsyncEngine, cat: list[Product],
                                                          raw: list[tuple[int, int, int]]) -> None:
    """Summing in SQL and filling only binding products gives exactly the pure function's answer."""
    now = datetime.now(UTC)
    ids = [p.id for p in cat]
    async with engine.begin() as conn:
        await conn.execute(wish_lines.delete())
        await conn.execute(wish_windows.delete())
        await conn.execute(live_sessions.delete())
        await conn.execute(communities.delete())
        await conn.execute(communities.insert().values(id="c", name="c", created_at=now))
        await conn.execute(live_sessions.insert().values(id="s", community_id="c", title="t", status="draft",
                                                         created_by="h", created_at=now))
        tomorrow = now + timedelta(days=1)
        await conn.execute(wish_windows.insert().values(id="w", session_id="s", community_id="c", opens_at=now,
                                                        cutoff_at=tomorrow, live_at=tomorrow,
                                                        hold_release_at=tomorrow, status="open"))
        inserted = []
        for n, (i, qty, pt) in enumerate(raw):
            result = await conn.execute(wish_lines.insert().values(
                window_id="w", resident_id=f"r{n}", product_id=ids[i % len(ids)], qty=qty, pickup_point_id=f"p{pt}",
                entered_by=f"r{n}", source="app", status="active", created_at=now, updated_at=now))
            line_id = result.inserted_primary_key[0]
            inserted.append(wish(str(line_id), qty, ids[i % len(ids)], f"p{pt}"))
        via_sql = await aggregate_window(conn, "w", Catalog(products=cat))
    assert via_sql == aggregate(Catalog(products=cat), inserted)


def test_shortfall_is_listed_in_submission_order_across_products() -> None:
    """Shortfall follows the order the wishes came in, not the order of products."""
    cat = Catalog(products=[product("a", case=1, moq=0, capacity=1), product("b", case=1, moq=0, capacity=1)])
    result = aggregate(cat, [wish("r1", 1, "b"), wish("r2", 1, "a"), wish("r3", 2, "b"), wish("r4", 3, "a")])
    assert [(s.resident_id, s.product_id, s.qty) for s in result.shortfall] == [("r3", "b", 2), ("r4", "a", 3)]
