"""A request's URL and peer, read without keeping what was read.

aiohttp keeps what it parses of a request on the request once asked (the query, the decoded path, the
peer's address: one property more asked grows its cache). What every request passes through (the
guards, a live room's opening) reads these off the raw URL and the transport instead, keeping nothing;
a live room's opening reads the peer's address before her socket is taken over (infra.websocket),
after which the request has no transport to ask.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from aiohttp import web


def query_value(request: web.Request, name: str) -> str | None:
    """The first value of a query parameter, parsed from the raw query string each time it is asked."""
    query = request.rel_url.raw_query_string
    if not query:
        return None
    return next((value for key, value in parse_qsl(query, keep_blank_values=True) if key == name), None)


def query_has(request: web.Request, *names: str) -> bool:
    """Whether the query names any of ``names`` (one parse for all of them)."""
    query = request.rel_url.raw_query_string
    return bool(query) and any(key in names for key, _ in parse_qsl(query, keep_blank_values=True))


def has_nul(request: web.Request) -> bool:
    """Whether the path or the query decodes to a NUL character (only ``%00`` does)."""
    url = request.rel_url
    return any("%00" in part or "\x00" in part for part in (url.raw_path, url.raw_query_string))


def peer_address(request: web.Request) -> str | None:
    """The peer's address, as ``request.remote`` has it (linli never clones a request with another)."""
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    if isinstance(peer, (list, tuple)):
        return str(peer[0])
    return None if peer is None else str(peer)
