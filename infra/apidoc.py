"""What an HTTP handler takes and answers, declared beside it for the OpenAPI document.

``@endpoint(request=NewItem, response=ItemView, status=201, roles=("host",))`` puts an
``Endpoint`` on the handler; ``linli.openapi`` walks the app's routes and reads it. The
declaration describes, it does not enforce: the handler still calls ``require`` and
``read_body``, and the tests hold the two together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

H = TypeVar("H", bound=Callable[..., Any])
ATTRIBUTE = "__endpoint__"


class ProblemDetail(msgspec.Struct, kw_only=True):
    code: str
    message: str


class Problem(msgspec.Struct, kw_only=True):
    """The one JSON body of every HTTP error."""

    error: ProblemDetail


@dataclass(frozen=True, slots=True)
class Endpoint:
    request: Any = None  # the body's type (a Struct), None when there is no body
    response: Any = None  # the answer's type, a tuple of types when it is one of several, None when not JSON
    status: int = 200
    roles: tuple[str, ...] | None = ()  # None: no token needed; (): anyone signed in; see Principal.holds
    content_type: str = "application/json"


def endpoint(*, request: Any = None, response: Any = None, status: int = 200,
             roles: tuple[str, ...] | None = (), content_type: str = "application/json") -> Callable[[H], H]:
    """Declare a handler's body, answer and callers (its docstring is the summary)."""
    def mark(handler: H) -> H:
        setattr(handler, ATTRIBUTE, Endpoint(request, response, status, roles, content_type))
        return handler
    return mark


def endpoint_of(handler: Any) -> Endpoint | None:
    """The handler's declaration, if it has one."""
    return getattr(handler, ATTRIBUTE, None)
