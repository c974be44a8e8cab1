"""HTTP routes of the crowdfunding room: catalog, wish windows, wishes, 接龙 import, supplier view."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from aiohttp import web

from community.api import list_pickup_points
from crowdfund import catalog, supplier_view, windows, wishes
from crowdfund.cutoff import CutoffSummary, run_cutoff
from crowdfund.errors import WindowClosed
from crowdfund.imports import ChainImport, ChainResult, import_chain
from infra.apidoc import endpoint
from infra.appkeys import RESOURCES
from infra.errors import BadRequest, Forbidden
from infra.http import authenticate, json_response, read_body, require
from infra.tables import wish_windows
from stream.api import LIVE


class Products(msgspec.Struct, kw_only=True):
    products: list[catalog.ProductView]


class WindowDetail(windows.WindowView, kw_only=True):
    products: list[catalog.ProductView]
    pickup_points: list[dict[str, str]]  # id, name, address
    my_wishes: list[wishes.WishWithOutcome]


class WishList(msgspec.Struct, kw_only=True):
    wishes: list[wishes.WishWithOutcome]


class AlreadyClosed(msgspec.Struct, kw_only=True):
    window_id: str
    status: str  # "already closed"


def _engine(request: web.Request):  # type: ignore[no-untyped-def]
    return request.app[RESOURCES].engine


@endpoint(request=catalog.NewSupplier, response=catalog.SupplierView, status=201, roles=("admin",))
async def post_supplier(request: web.Request) -> web.Response:
    """Register a supplier; its id is the user id of its token."""
    require(request, "admin")
    return json_response(await catalog.add_supplier(_engine(request), await read_body(request, catalog.NewSupplier)), 201)


@endpoint(request=catalog.NewProduct, response=catalog.ProductView, status=201, roles=("supplier", "admin"))
async def post_product(request: web.Request) -> web.Response:
    """Admins add any product; a supplier adds its own."""
    principal = require(request, "supplier")
    product = await read_body(request, catalog.NewProduct)
    if principal.role == "supplier" and product.supplier_id != principal.user_id:
        raise Forbidden("suppliers add their own products only")
    return json_response(await catalog.add_product(_engine(request), product), 201)


@endpoint(response=Products)
async def get_products(request: web.Request) -> web.Response:
    """The whole catalog, for anyone signed in."""
    authenticate(request)
    return json_response(Products(products=await catalog.all_products(_engine(request))))


@endpoint(request=windows.NewWindow, response=windows.WindowView, status=201, roles=("host",))
async def post_window(request: web.Request) -> web.Response:
    """Open a wish window for a live session of the host's community."""
    principal = require(request, "host")
    body = await read_body(request, windows.NewWindow)
    return json_response(await windows.create_window(_engine(request), principal, body), 201)


@endpoint(response=WindowDetail)
async def get_window(request: web.Request) -> web.Response:
    """The window with its products, pickup points and (for residents) the caller's own wishes."""
    principal = authenticate(request)
    engine = _engine(request)
    row = await windows.window_row(engine, request.match_info["wid"])
    if not principal.can_act_in(row.community_id):
        raise Forbidden("that wish window belongs to another community")
    return json_response(WindowDetail.of(
        row, products=await catalog.all_products(engine),
        pickup_points=await list_pickup_points(engine, row.community_id),
        my_wishes=await wishes.wishes_of(engine, row.id, principal.user_id)))


@endpoint(request=wishes.NewWish, response=wishes.WishLine, status=201, roles=("resident", "grid", "admin"))
async def post_wish(request: web.Request) -> web.Response:
    """Add a wish line: a resident's own, or a grid worker's for a resident of their grid."""
    principal = authenticate(request)
    body = await read_body(request, wishes.NewWish)
    line = await wishes.add_wish(_engine(request), principal, request.match_info["wid"], body)
    return json_response(line, 201)


def _line_id(request: web.Request) -> int:
    try:
        return int(request.match_info["lid"])
    except ValueError as exc:
        raise BadRequest("wish ids are numbers") from exc


@endpoint(request=wishes.WishEdit, response=wishes.WishLine, roles=("resident", "grid", "admin"))
async def patch_wish(request: web.Request) -> web.Response:
    """Change a wish line's qty and/or pickup point: its owner or their grid worker."""
    body = await read_body(request, wishes.WishEdit)
    return json_response(await wishes.edit_wish(_engine(request), authenticate(request), request.match_info["wid"],
                                                _line_id(request), body))


@endpoint(response=wishes.Withdrawn, roles=("resident", "grid", "admin"))
async def delete_wish(request: web.Request) -> web.Response:
    """Withdraw a wish line: its owner or their grid worker."""
    return json_response(await wishes.withdraw_wish(_engine(request), authenticate(request),
                                                    request.match_info["wid"], _line_id(request)))


@endpoint(response=WishList)
async def get_wishes(request: web.Request) -> web.Response:
    """A resident's wishes (their own; a grid worker may ask for a resident of their grid)."""
    principal = authenticate(request)
    resident = request.query.get("resident_id", principal.user_id)
    if resident != principal.user_id:
        await wishes.resident_for(_engine(request), principal, resident)
    return json_response(WishList(wishes=await wishes.wishes_of(_engine(request), request.match_info["wid"], resident)))


@endpoint(response=wishes.Demand, roles=("host", "grid"))
async def get_demand(request: web.Request) -> web.Response:
    """The window's demand: totals per product and pickup point, and free-text signals."""
    principal = require(request, "host", "grid")
    row = await windows.window_row(_engine(request), request.match_info["wid"])
    if not principal.can_act_in(row.community_id):
        raise Forbidden("that wish window belongs to another community")
    return json_response(await wishes.demand(_engine(request), row.id))


@endpoint(request=ChainImport, response=ChainResult, roles=("grid", "host"))
async def post_chain(request: web.Request) -> web.Response:
    """Import a pasted 接龙 chain: grid workers and hosts."""
    principal = require(request, "grid", "host")
    body = await read_body(request, ChainImport)
    return json_response(await import_chain(_engine(request), principal, request.match_info["wid"], body))


@endpoint(response=(CutoffSummary, AlreadyClosed), roles=("host",))
async def post_close(request: web.Request) -> web.Response:
    """Close a window now (the organizer's early cutoff) and run the cutoff work."""
    principal = require(request, "host")
    engine = _engine(request)
    row = await windows.window_row(engine, request.match_info["wid"])
    if not principal.can_act_in(row.community_id):
        raise Forbidden("that wish window belongs to another community")
    if row.status != "open":
        raise WindowClosed(f"the window is already {row.status}")
    async with engine.begin() as conn:
        await conn.execute(wish_windows.update().where(wish_windows.c.id == row.id, wish_windows.c.status == "open",
                                                       wish_windows.c.cutoff_at > datetime.now(UTC))
                           .values(cutoff_at=datetime.now(UTC)))
    summary = await run_cutoff(request.app[LIVE], row.id)
    return json_response(summary or AlreadyClosed(window_id=row.id, status="already closed"))


@endpoint(response=supplier_view.SupplierOrders, roles=("supplier",))
async def get_supplier_orders(request: web.Request) -> web.Response:
    """The supplier's own orders with lines and picking lists per pickup point."""
    principal = require(request, "supplier")
    return json_response(supplier_view.SupplierOrders(
        orders=await supplier_view.orders_for(_engine(request), principal.user_id)))


@endpoint(response=supplier_view.OrderStep, roles=("supplier",))
async def post_supplier_order_action(request: web.Request) -> web.Response:
    """Move an order on: action confirm (pending -> confirmed) or ship (confirmed -> shipped)."""
    principal = require(request, "supplier")
    action = request.match_info["action"]
    if action not in supplier_view.NEXT_STATUS:
        raise BadRequest("action is confirm or ship")
    return json_response(await supplier_view.advance(_engine(request), principal.user_id,
                                                     request.match_info["oid"], action))


@endpoint(roles=("supplier",), content_type="text/csv")
async def get_picking_csv(request: web.Request) -> web.Response:
    """An order's picking lists as CSV, one row per pickup point and product, plus surplus rows."""
    principal = require(request, "supplier")
    oid = request.match_info["oid"]
    text = await supplier_view.picking_csv(_engine(request), principal.user_id, oid)
    return web.Response(text=text, content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="picking-{oid}.csv"'})


routes = [
    web.post("/api/suppliers", post_supplier),
    web.post("/api/products", post_product),
    web.get("/api/products", get_products),
    web.post("/api/wish-windows", post_window),
    web.get("/api/wish-windows/{wid}", get_window),
    web.post("/api/wish-windows/{wid}/wishes", post_wish),
    web.get("/api/wish-windows/{wid}/wishes", get_wishes),
    web.patch("/api/wish-windows/{wid}/wishes/{lid}", patch_wish),
    web.delete("/api/wish-windows/{wid}/wishes/{lid}", delete_wish),
    web.get("/api/wish-windows/{wid}/demand", get_demand),
    web.post("/api/wish-windows/{wid}/chain", post_chain),
    web.post("/api/wish-windows/{wid}/close", post_close),
    web.get("/api/supplier/orders", get_supplier_orders),
    web.post("/api/supplier/orders/{oid}/{action}", post_supplier_order_action),
    web.get("/api/supplier/orders/{oid}/picking.csv", get_picking_csv),
]
