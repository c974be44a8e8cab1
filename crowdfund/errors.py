"""Crowdfunding errors.

CrowdfundError (infra DomainError)
├── WindowNotFound   404 no such wish window
├── WindowClosed     409 the window is not open now (before it opens or after its cutoff)
├── CutoffPassed     400 a new window's cutoff is already in the past
├── WindowExists     409 the session's window already holds wishes (an empty one is replaced)
├── NotAResident     403 a resident token for someone not registered in the community
├── WishNotFound     404 no such wish line (or not yours)
├── ProductNotFound  404 no such product in the catalog
└── ProductNotOffered 409 the product is retired, or its supplier does not serve this community
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


class ProductNotOffered(CrowdfundError):
    code = "product_not_offered"
    status = 409


class CutoffPassed(CrowdfundError):
    code = "cutoff_passed"
    status = 400


class WindowExists(CrowdfundError):
    code = "window_exists"
    status = 409


class NotAResident(CrowdfundError):
    code = "not_a_resident"
    status = 403
