"""Crowdfunding errors.

CrowdfundError (infra DomainError)
├── WindowNotFound   404 no such wish window
├── WindowClosed     409 the window is not open now (before it opens or after its cutoff)
├── WishNotFound     404 no such wish line (or not yours)
└── ProductNotFound  404 no such product in the catalog
"""

from infra.errors import DomainError


class CrowdfundError(DomainError):
    code = "crowdfund_error"


class WindowNotFound(CrowdfundError):
    code = "unknown_window"
    status = 404


class WindowClosed(CrowdfundError):
    code = "window_closed"
    status = 409


class WishNotFound(CrowdfundError):
    code = "unknown_wish"
    status = 404


class ProductNotFound(CrowdfundError):
    code = "unknown_product"
    status = 404
