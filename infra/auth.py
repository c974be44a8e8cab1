"""Signed bearer tokens (JWT, HS256) carrying a user id, a role, a community and a token id.

Roles and where they act:

- ``resident``, ``host``, ``grid``, ``pickup``: people of one community, named in the token.
- ``supplier``: a supplier, whose id is the token's user id; it serves the communities an operator names.
- ``admin``: a community's administrator. The token must name the community; an admin passes the
  role checks of the community roles above, in that community only.
- ``operator``: a platform operator, with no community; passes every role check, in every community.

Every token carries ``jti`` (a random id) and ``iat``, so one token, or every token a user was
given until a moment, can be denied (``infra.revocation``). Hosts, admins and operators act for
many people, so their tokens live hours rather than days.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import jwt

from infra.ids import ID_RE, ID_RULE

ROLES = ("resident", "host", "supplier", "grid", "pickup", "admin", "operator")
# Each role's one string: a verified principal's role is this, not the copy decoded from its token, as
# each live viewer keeps hers for as long as she watches.
ROLE_NAMES = {role: role for role in ROLES}
# The roles of people who act inside one community: a community's admin passes their checks there.
COMMUNITY_ROLES = ("resident", "host", "grid", "pickup")
DEFAULT_TTL_S = 7 * 24 * 3600  # residents, grid workers, pickup points, suppliers
PRIVILEGED_ROLES = ("host", "admin", "operator")
PRIVILEGED_TTL_S = 12 * 3600  # a host's day, an admin's or operator's shift
MAX_TTL_S = 30 * 24 * 3600  # a revocation of a user is kept this long, so no token may outlive it
MIN_SECRET_BYTES = 32  # HS256 wants a key at least as long as its hash


class AuthError(Exception):
    """The token is missing, malformed, expired, revoked or not signed by us."""


class TokenRevoked(AuthError):
    """The token, or every token of its user until a moment, was denied (``infra.revocation``)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the verified claims of a token."""

    user_id: str
    role: str
    community_id: str | None
    token_id: str = ""  # the token's jti ("" for a principal made in code, e.g. the demo's seeding)
    issued_at: int = 0  # epoch seconds
    expires_at: int = 0  # epoch seconds

    def can_act_in(self, community_id: str) -> bool:
        """Operators act everywhere; everyone else (a community's admin too) only in their own community."""
        return self.role == "operator" or (self.community_id is not None and self.community_id == community_id)

    def holds(self, *roles: str) -> bool:
        """Whether a route for ``roles`` lets this caller in (no roles: anyone signed in). An operator
        always; a community's admin for a community role (the route then checks which community)."""
        if not roles or self.role in roles or self.role == "operator":
            return True
        return self.role == "admin" and any(role in COMMUNITY_ROLES for role in roles)


def default_ttl(role: str) -> int:
    """How long a token of ``role`` lives unless asked otherwise."""
    return PRIVILEGED_TTL_S if role in PRIVILEGED_ROLES else DEFAULT_TTL_S


def _check_scope(role: str, community_id: str | None) -> None:
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    if role == "admin" and not community_id:
        raise AuthError("an admin acts in one community: name it (--community); "
                        "a platform operator, who acts everywhere, has the role operator")
    if role == "operator" and community_id:
        raise AuthError("an operator acts in every community and names none; "
                        "a community's administrator has the role admin")


def load_secret(data_dir: Path, configured: str | None) -> str:
    """LINLI_SECRET when set, else a secret generated once into the data folder."""
    if configured:
        if len(configured.encode()) < MIN_SECRET_BYTES:
            raise AuthError(f"LINLI_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        return configured
    path = Path(data_dir) / "secret"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting together agree on whichever secret was written first.
    try:
        with open(path, "x") as fh:
            fh.write(secret)
        path.chmod(0o600)
    except FileExistsError:
        return path.read_text().strip()
    return secret


def issue_token(secret: str, *, user_id: str, role: str, community_id: str | None = None,
                ttl_s: int | None = None) -> str:
    """A signed token for one user, living ``ttl_s`` seconds (the role's default when None)."""
    _check_scope(role, community_id)
    if not ID_RE.match(user_id):
        raise AuthError(f"user id must be {ID_RULE}")
    ttl_s = default_ttl(role) if ttl_s is None else ttl_s
    if not 0 < ttl_s <= MAX_TTL_S:
        raise AuthError(f"ttl must be 1-{MAX_TTL_S} seconds ({MAX_TTL_S // 86400} days)")
    now = int(time.time())
    claims: dict[str, object] = {"sub": user_id, "role": role, "iat": now, "exp": now + ttl_s,
                                 "jti": secrets.token_hex(16)}
    if community_id:
        claims["community"] = community_id
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_token(secret: str, token: str) -> Principal:
    """The principal a token names, or AuthError saying why not (revocations are checked apart)."""
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"],
                            options={"require": ["exp", "iat", "sub", "jti"]})
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("token expired") from exc
    except jwt.PyJWTError as exc:
        raise AuthError(f"invalid token: {exc}") from exc
    role, community, jti = claims.get("role"), claims.get("community"), claims.get("jti")
    if role not in ROLES:
        raise AuthError("invalid token: unknown role")
    if community is not None and not isinstance(community, str):
        raise AuthError("invalid token: community must be a string")
    if not isinstance(jti, str) or not ID_RE.match(jti):
        raise AuthError("invalid token: bad jti")
    try:
        _check_scope(str(role), community)
    except AuthError as exc:
        raise AuthError(f"invalid token: {exc}") from exc
    return Principal(user_id=str(claims["sub"]), role=ROLE_NAMES[role], community_id=community, token_id=jti,
                     issued_at=int(claims["iat"]), expires_at=int(claims["exp"]))
