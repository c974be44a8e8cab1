"""Community errors.

CommunityError (infra DomainError)
├── CommunityExists    409 the id is taken
└── CommunityNotFound  404
"""

from infra.errors import DomainError


class CommunityError(DomainError):
    code = "community_error"


class CommunityExists(CommunityError):
    code = "community_exists"
    status = 409


class CommunityNotFound(CommunityError):
    code = "unknown_community"
    status = 404
