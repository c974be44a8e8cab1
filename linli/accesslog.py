"""The access log of the web processes, with every query value masked.

aiohttp's default line holds the whole request line and the Referer, query strings included: a
token or a websocket ticket there would be copied into every log store and backup. The line
below keeps the shape of the default (address, request, status, size, Referer, User-Agent), and
each query parameter keeps its name with its value replaced by ``*``.
"""

from __future__ import annotations

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

MASK = "*"


def redact(url: str) -> str:
    """``url`` with each query value masked and any fragment dropped: /live/s1?token=abc -> /live/s1?token=*."""
    head, sep, query = url.partition("?")
    if not sep:
        return head.partition("#")[0]
    query = query.partition("#")[0]
    masked = [part.partition("=")[0] + ("=" + MASK if "=" in part else "") for part in query.split("&")]
    return f"{head}?{'&'.join(masked)}"


class RedactingAccessLogger(AbstractAccessLogger):
    """One line per request, as aiohttp's default format has it, with query values masked."""

    __slots__ = ()  # one per connection, for as long as it is open: no dict of its own

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        version = request.version
        self.logger.info(
            '%s "%s %s HTTP/%d.%d" %d %d %.3fs "%s" "%s"',
            request.remote, request.method, redact(request.raw_path), version.major, version.minor,
            response.status, response.body_length, time, redact(request.headers.get("Referer", "-")),
            request.headers.get("User-Agent", "-"),
        )
