"""Inventory errors.

InventoryError (infra DomainError)
├── InvalidInput   400 a quantity, id or request id the caller should never have sent
├── UnknownItem    404 the session has no such item (or no such session)
├── UnknownOrder   404 no order with that id in the session
└── OverRateLimit  429 a grab over one of the caller's rate limits (RateCell), checked in the same call

A sale outcome such as sold_out or limit is not an error: it is a Reservation with ok=False.
"""

from infra.errors import DomainError


class InventoryError(DomainError):
    code = "inventory_error"


class InvalidInput(InventoryError):
    code = "bad_request"
    status = 400


class UnknownItem(InventoryError):
    code = "unknown_item"
    status = 404


class UnknownOrder(InventoryError):
    code = "unknown_order"
    status = 404


class OverRateLimit(InventoryError):
    code = "rate_limited"
    status = 429

    def __init__(self, cell: int, retry_after_ms: int) -> None:
        super().__init__(f"rate limit {cell} refused the grab; try again in {retry_after_ms} ms")
        self.cell = cell  # the index of the refusing cell in the reserve call's limits
        self.retry_after_ms = retry_after_ms
