"""HTTP routes of the crowdfunding room: catalog, wish windows, wishes, 接龙 import, supplier view."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from community.people import list_pickup_points
from crowdfund import catalog, supplier_view, windows, wishes
from crowdfund.cutoff import run_cutoff
from crowdfund.errors import WindowClosed
from crowdfund.imports import ChainImport, import_chain
from infra.appkeys import RESOURCES
from infra.errors import BadRequest, Forbidden
from infra.http import authenticate, json_response, read_body, require
from infra.tables import wish_windows
from stream.room import LIVE


def _engine(request: web.Request):  # type: ignore[no-untyped-def]
    return request.app[RESOURCES].engine


async def post_supplier(request: web.Request) -> web.Response:
    require(request, "admin")
    return json_response(await catalog.add_supplier(_engine(request), await read_body(request, catalog.NewSupplier)), 201)


async def post_product(request: web.Request) -> web.Response:
    """Admins add any product; a supplier adds its own."""
    principal = require(request, "supplier")
    product = await read_body(request, catalog.NewProduct)
    if principal.role == "supplier" and product.supplier_id != principal.user_id:
        raise Forbidden("suppliers add their own products only")
    return json_response(await catalog.add_product(_engine(request), product), 201)


async def get_products(request: web.Request) -> web.Response:
    authenticate(request)
    return json_response({"products": await catalog.all_products(_engine(request))})


async def post_window(request: web.Request) -> web.Response:
    principal = require(request, "host")
    body = await read_body(request, windows.NewWindow)
    return json_response(await windows.create_window(_engine(request), principal, body), 201)


async def get_window(request: web.Request) -> web.Response:
    """The window with its products, pickup points and (for residents) the caller's own wishes."""
    principal = authenticate(request)
    engine = _engine(request)
    row = await windows.window_row(engine, request.match_info["wid"])
    if not principal.can_act_in(row.community_id):
        raise Forbidden("that wish window belongs to another community")
    return json_response({
        **windows.window_json(row), "products": await catalog.all_products(engine),
        "pickup_points": await list_pickup_points(engine, row.community_id),
        "my_wishes": await wishes.wishes_of(engine, row.id, principal.user_id),
    })


async def post_wish(request: web.Request) -> web.Response:
    principal = authenticate(request)
    body = await read_body(request, wishes.NewWish)
    line = await wishes.add_wish(_engine(request), principal, request.match_info["wid"], body)
    return json_response(line, 201)


def _line_id(request: web.Request) -> int:
    try:
        return int(request.match_info["lid"])
    except ValueError as exc:
        raise BadRequest("wish ids are numbers") from exc


async def patch_wish(request: web.Request) -> web.Response:
    body = await read_body(request, wishes.WishEdit)
    return json_response(await wishes.edit_wish(_engine(request), authenticate(request), request.match_info["wid"],
                                                _line_id(request), body))


async def delete_wish(request: web.Request) -> web.Response:
    return json_response(await wishes.withdraw_wish(_engine(request), authenticate(request),
                                                    request.match_info["wid"], _line_id(request)))


async def get_wishes(request: web.Request) -> web.Response:
    """A resident's wishes (their own; a grid worker may ask for a resident of their grid)."""
    principal = authenticate(request)
    resident = request.query.get("resident_id", principal.user_id)
    if resident != principal.user_id:
        await wishes.resident_for(_engine(request), principal, resident)
    return json_response({"wishes": await wishes.wishes_of(_engine(request), request.match_info["wid"], resident)})


async def get_demand(request: web.Request) -> web.Response:
    principal = require(request, "host", "grid")
    row = await windows.window_row(_engine(request), request.match_info["wid"])
    if not principal.can_act_in(row.community_id):
        raise Forbidden("that wish window belongs to another community")
    return json_response(await wishes.demand(_engine(request), row.id))


async def post_chain(request: web.Request) -> web.Response:
    """Import a pasted 接龙 chain: grid workers and hosts."""
    principal = require(request, "grid", "host")
    body = await read_body(request, ChainImport)
    return json_response(await import_chain(_engine(request), principal, request.match_info["wid"], body))


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
    return json_response(summary or {"window_id": row.id, "status": "already closed"})


async def get_supplier_orders(request: web.Request) -> web.Response:
    principal = require(request, "supplier")
    return json_response({"orders": await supplier_view.orders_for(_engine(request), principal.user_id)})


async def post_supplier_order_action(request: web.Request) -> web.Response:
    principal = require(request, "supplier")
    action = request.match_info["action"]
    if action not in supplier_view.NEXT_STATUS:
        raise BadRequest("action is confirm or ship")
    return json_response(await supplier_view.advance(_engine(request), principal.user_id,
                                                     request.match_info["oid"], action))


async def get_picking_csv(request: web.Request) -> web.Response:
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
