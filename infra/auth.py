"""Signed bearer tokens (JWT, HS256) carrying a user id, a role and a community."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import jwt

from infra.ids import ID_RE, ID_RULE

ROLES = ("resident", "host", "supplier", "grid", "pickup", "admin")
DEFAULT_TTL_S = 7 * 24 * 3600
MIN_SECRET_BYTES = 32  # HS256 wants a key at least as long as its hash


class AuthError(Exception):
    """The token is missing, malformed, expired or not signed by us."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the verified claims of a token."""

    user_id: str
    role: str
    community_id: str | None

    def can_act_in(self, community_id: str) -> bool:
        """Admins act everywhere; everyone else only in their own community."""
        return self.role == "admin" or self.community_id == community_id


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
                ttl_s: int = DEFAULT_TTL_S) -> str:
    """A signed token for one user."""
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    if not ID_RE.match(user_id):
        raise AuthError(f"user id must be {ID_RULE}")
    if ttl_s <= 0:
        raise AuthError("ttl must be positive")
    now = int(time.time())
    claims: dict[str, object] = {"sub": user_id, "role": role, "iat": now, "exp": now + ttl_s}
    if community_id:
        claims["community"] = community_id
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_token(secret: str, token: str) -> Principal:
    """The principal a token names, or AuthError saying why not."""
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("token expired") from exc
    except jwt.PyJWTError as exc:
        raise AuthError(f"invalid token: {exc}") from exc
    role = claims.get("role")
    if role not in ROLES:
        raise AuthError("invalid token: unknown role")
    return Principal(user_id=str(claims["sub"]), role=str(role), community_id=claims.get("community"))
