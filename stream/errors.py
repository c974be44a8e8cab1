"""Live-session errors.

StreamError (infra DomainError)
├── SessionNotFound   404 no such session
├── WrongState        409 not allowed in the session's current state (draft, live, ended)
├── BagNotFound       404 no such lucky bag or red packet
├── SessionOver       410 the session has ended: nobody joins its room any more
└── RateLimited       429 too many frames of one kind from one connection
Input errors use infra.errors.BadRequest; role and community errors infra.errors.Forbidden.
"""

from infra.errors import DomainError


class StreamError(DomainError):
    code = "stream_error"


class SessionNotFound(StreamError):
    code = "unknown_session"
    status = 404


class WrongState(StreamError):
    code = "wrong_state"
    status = 409


class BagNotFound(StreamError):
    code = "unknown_bag"
    status = 404


class SessionOver(StreamError):
    code = "session_ended"
    status = 410


class RateLimited(StreamError):
    code = "rate_limited"
    status = 429
