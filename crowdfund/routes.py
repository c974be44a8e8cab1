"""HTTP routes of the crowdfunding room: catalog, wish windows, wishes, 接龙 import, supplier view."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from aiohttp import web

from community.api import list_pickup_points
from crowdfund import catalog, closing, demand, shortfall, supplier_view, windows, wishes
from crowdfund.imports import ChainImport, ChainPreview, ChainResult, import_chain, preview_chain
from infra.apidoc import endpoint
from infra.appkeys import RESOURCES
from infra.errors import BadRequest, Forbidden
from infra.http import authenticate, json_response, read_body, require, whole_number
from stream.api import LIVE


class Products(msgspec.Struct, kw_only=True):
    products: list[catalog.ProductView]


class WindowDetail(windows.WindowView, kw_only=True):
    products: list[catalog.ProductView]  # offered in the window's community now
    pickup_points: list[dict[str, str]]  # id, name, address
    my_wishes: list[wishes.WishWithOutcome]
    progress: list[demand.ProductProgress]  # per product: totals only, never who wished


class WishList(msgspec.Struct, kw_only=True):
    wishes: list[wishes.WishWithOutcome]


def _engine(request: web.Request):  # type: ignore[no-untyped-def]
    return request.app[RESOURCES].engine


@endpoint(request=catalog.NewSupplier, response=catalog.SupplierView, status=201, roles=("operator",))
async def post_supplier(request: web.Request) -> web.Response:
    """Register a supplier; its id is the user id of its token."""
    require(request, "operator")
    body = await read_body(request, catalog.NewSupplier)
    return json_response(await catalog.add_supplier(_engine(request), body), 201)


@endpoint(request=catalog.SupplierCommunities, response=catalog.SupplierView, roles=("operator",))
async def put_supplier_communities(request: web.Request) -> web.Response:
    """Name the communities a supplier serves; its products are offered there only."""
    require(request, "operator")
    body = await read_body(request, catalog.SupplierCommunities)
    return json_response(await catalog.set_supplier_communities(_engine(request), request.match_info["sup"], body))


@endpoint(request=catalog.NewProduct, response=catalog.ProductView, status=201, roles=("supplier", "operator"))
async def post_product(request: web.Request) -> web.Response:
    """Operators add any product; a supplier adds its own."""
    principal = require(request, "supplier")
    product = await read_body(request, catalog.NewProduct)
    if principal.role == "supplier" and product.supplier_id != principal.user_id:
        raise Forbidden("suppliers add their own products only")
    return json_response(await catalog.add_product(_engine(request), product), 201)


@endpoint(response=Products)
async def get_products(request: web.Request) -> web.Response:
    """The catalog as the caller sees it: what their community is offered; a supplier its own products;
    an operator everything, or one community's offer with ?community_id=."""
    principal = authenticate(request)
    return json_response(Products(products=await catalog.products_for(
        _engine(request), principal, request.query.get("community_id"))))


@endpoint(request=catalog.ProductEdit, response=catalog.ProductView, roles=("supplier", "operator"))
async def patch_product(request: web.Request) -> web.Response:
    """Change a product: its own supplier, or an operator. Id, supplier and unit stay."""
    principal = require(request, "supplier")
    body = await read_body(request, catalog.ProductEdit)
    return json_response(await catalog.edit_product(_engine(request), principal, request.match_info["pid"], body))


@endpoint(response=catalog.ProductView, roles=("supplier", "operator"))
async def post_retire_product(request: web.Request) -> web.Response:
    """Retire a product: offered no more, its history kept."""
    principal = require(request, "supplier")
    return json_response(await catalog.retire_product(_engine(request), principal, request.match_info["pid"]))


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
        row, products=await catalog.offered_in(engine, row.community_id),
        pickup_points=await list_pickup_points(engine, row.community_id),
        my_wishes=await wishes.wishes_of(engine, row.id, principal.user_id),
        progress=await demand.progress(engine, row), warnings=await windows.window_warnings(engine, row)))


@endpoint(response=windows.WindowList)
async def get_community_windows(request: web.Request) -> web.Response:
    """A community's wish windows with their sessions: accepting ones first, then those to come, then past ones."""
    principal = authenticate(request)
    cid = request.match_info["cid"]
    if not principal.can_act_in(cid):
        raise Forbidden("that is another community")
    return json_response(await windows.community_windows(_engine(request), cid))


@endpoint(request=wishes.NewWish, response=wishes.WishLine, status=201, roles=("resident", "grid", "admin"))
async def post_wish(request: web.Request) -> web.Response:
    """Add a wish line: a resident's own, or a grid worker's for a resident of their grid."""
    principal = authenticate(request)
    body = await read_body(request, wishes.NewWish)
    line = await wishes.add_wish(_engine(request), principal, request.match_info["wid"], body)
    return json_response(line, 201)


def _line_id(request: web.Request) -> int:
    return whole_number(request.match_info["lid"], "a wish id", least=1)


@endpoint(request=wishes.WishEdit, response=wishes.WishLine, roles=("resident", "grid", "admin"))
async def patch_wish(request: web.Request) -> web.Response:
    """Change a wish line's qty and/or pickup point: its owner or their grid worker."""
    principal = require(request, "resident", "grid", "admin")
    body = await read_body(request, wishes.WishEdit)
    return json_response(await wishes.edit_wish(_engine(request), principal, request.match_info["wid"],
                                                _line_id(request), body))


@endpoint(response=wishes.Withdrawn, roles=("resident", "grid", "admin"))
async def delete_wish(request: web.Request) -> web.Response:
    """Withdraw a wish line: its owner or their grid worker."""
    principal = require(request, "resident", "grid", "admin")
    return json_response(await wishes.withdraw_wish(_engine(request), principal,
                                                    request.match_info["wid"], _line_id(request)))


@endpoint(response=WishList)
async def get_wishes(request: web.Request) -> web.Response:
    """A resident's wishes in a window: her own; ``?resident_id=`` a grid worker's resident of her grid,
    or an admin's of the community. Someone else's resident answers as an unknown one does (403)."""
    principal = authenticate(request)
    found = await wishes.readable_wishes(_engine(request), principal, request.match_info["wid"],
                                         request.query.get("resident_id"))
    return json_response(WishList(wishes=found))


@endpoint(response=demand.Demand, roles=("host", "grid"))
async def get_demand(request: web.Request) -> web.Response:
    """The window's demand: progress per product (MOQ, cases, capacity, price now) by pickup point,
    free-text signals, and the delivery warnings."""
    principal = require(request, "host", "grid")
    row = await windows.window_row(_engine(request), request.match_info["wid"])
    if not principal.can_act_in(row.community_id):
        raise Forbidden("that wish window belongs to another community")
    return json_response(await demand.demand(_engine(request), row))


@endpoint(response=supplier_view.SupplierOrders, roles=("host",))
async def get_window_supplier_orders(request: web.Request) -> web.Response:
    """The supplier orders a window's cutoff made, every supplier's, for the host of its community."""
    principal = require(request, "host")
    row = await windows.window_row(_engine(request), request.match_info["wid"])
    if not principal.can_act_in(row.community_id):
        raise Forbidden("that wish window belongs to another community")
    return json_response(supplier_view.SupplierOrders(
        orders=await supplier_view.orders_for(_engine(request), None, window_id=row.id)))


@endpoint(request=ChainImport, response=ChainPreview, roles=("grid", "host"))
async def post_chain_preview(request: web.Request) -> web.Response:
    """What importing a pasted 接龙 chain (with the grid worker's corrections) would do, line by line; writes
    nothing. Grid workers for their grid, hosts and admins for the community."""
    principal = require(request, "grid", "host")
    body = await read_body(request, ChainImport)
    return json_response(await preview_chain(_engine(request), principal, request.match_info["wid"], body))


@endpoint(request=ChainImport, response=ChainResult, roles=("grid", "host"))
async def post_chain(request: web.Request) -> web.Response:
    """Import a pasted 接龙 chain with the grid worker's corrections (the confirm of a preview): new lines and
    the edits' effects are written; lines imported before are recognised by content."""
    principal = require(request, "grid", "host")
    body = await read_body(request, ChainImport)
    return json_response(await import_chain(_engine(request), principal, request.match_info["wid"], body))


@endpoint(response=closing.Closed, roles=("host",))
async def post_close(request: web.Request) -> web.Response:
    """Close a window now (the host's early cutoff) and run the cutoff; asking again answers the same summary."""
    principal = require(request, "host")
    return json_response(await closing.close_now(request.app[LIVE], principal, request.match_info["wid"]))


@endpoint(response=supplier_view.SupplierOrders, roles=("supplier",))
async def get_supplier_orders(request: web.Request) -> web.Response:
    """The supplier's own orders with lines and picking lists per pickup point."""
    principal = require(request, "supplier")
    return json_response(supplier_view.SupplierOrders(
        orders=await supplier_view.orders_for(_engine(request), principal.user_id)))


@endpoint(request=shortfall.ConfirmOrder, response=supplier_view.OrderStep, roles=("supplier",))
async def post_supplier_order_action(request: web.Request) -> web.Response:
    """Move an order on: confirm (pending -> confirmed; lines it delivers in part name their confirmed_qty)
    or ship (confirmed -> shipped)."""
    principal = require(request, "supplier")
    action, oid = request.match_info["action"], request.match_info["oid"]
    if action not in supplier_view.NEXT_STATUS:
        raise BadRequest("action is confirm or ship")
    if action == "ship":
        return json_response(await supplier_view.advance(_engine(request), principal.user_id, oid, action))
    body = await read_body(request, shortfall.ConfirmOrder)
    short = await shortfall.confirm_order(request.app[LIVE], principal.user_id, oid, body)
    return json_response(supplier_view.OrderStep(id=oid, status="confirmed", at=windows.dt_to_ms(datetime.now(UTC)),
                                                 shortfall=short))


@endpoint(roles=("supplier",), content_type="text/csv")
async def get_picking_csv(request: web.Request) -> web.Response:
    """An order's picking lists as CSV for spreadsheets (Chinese headers; ?lang=en for English), one row per
    pickup point and product, plus a row per product whose surplus goes to the live sale."""
    principal = require(request, "supplier")
    oid = request.match_info["oid"]
    lang = request.query.get("lang", "zh")
    if lang not in supplier_view.CSV_LANGS:
        raise BadRequest(f"lang is one of {', '.join(supplier_view.CSV_LANGS)}")
    body = await supplier_view.picking_csv(_engine(request), principal.user_id, oid, lang)
    return web.Response(body=body, content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="picking-{oid}.csv"'})


routes = [
    web.post("/api/suppliers", post_supplier),
    web.put("/api/suppliers/{sup}/communities", put_supplier_communities),
    web.post("/api/products", post_product),
    web.get("/api/products", get_products),
    web.patch("/api/products/{pid}", patch_product),
    web.post("/api/products/{pid}/retire", post_retire_product),
    web.post("/api/wish-windows", post_window),
    web.get("/api/communities/{cid}/wish-windows", get_community_windows),
    web.get("/api/wish-windows/{wid}", get_window),
    web.post("/api/wish-windows/{wid}/wishes", post_wish),
    web.get("/api/wish-windows/{wid}/wishes", get_wishes),
    web.patch("/api/wish-windows/{wid}/wishes/{lid}", patch_wish),
    web.delete("/api/wish-windows/{wid}/wishes/{lid}", delete_wish),
    web.get("/api/wish-windows/{wid}/demand", get_demand),
    web.get("/api/wish-windows/{wid}/supplier-orders", get_window_supplier_orders),
    web.post("/api/wish-windows/{wid}/chain", post_chain),
    web.post("/api/wish-windows/{wid}/chain/preview", post_chain_preview),
    web.post("/api/wish-windows/{wid}/close", post_close),
    web.get("/api/supplier/orders", get_supplier_orders),
    web.post("/api/supplier/orders/{oid}/{action}", post_supplier_order_action),
    web.get("/api/supplier/orders/{oid}/picking.csv", get_picking_csv),
]
