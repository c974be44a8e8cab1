"""The root of every domain error, and the errors of the ground floor itself.

DomainError            carries a machine code and an HTTP status
├── BadRequest         400 undecodable or invalid input
├── Unauthorized       401 no token, or one we cannot verify
├── Forbidden          403 a valid token without the right role or community
├── NotFound           404
├── Conflict           409
└── Unavailable        503 a store (Redis, SQL) did not answer; try again

Each domain package's errors.py derives from these; the app turns any DomainError
into one JSON problem body (HTTP) or one ``error`` frame (websocket), in one place each.
"""


class DomainError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class BadRequest(DomainError):
    code = "bad_request"
    status = 400


class Unauthorized(DomainError):
    code = "unauthorized"
    status = 401


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Conflict(DomainError):
    code = "conflict"
    status = 409


class Unavailable(DomainError):
    code = "unavailable"
    status = 503
