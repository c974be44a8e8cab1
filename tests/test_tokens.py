"""`linli token` and bearer-token checks."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest

from infra.auth import AuthError, Principal, issue_token, load_secret, verify_token
from tests.servers import linli_env


def test_token_prints_one_token_per_user_in_order(tmp_path: Path) -> None:
    """One signed token per --user, one per line, in the order given, signed with the data folder's secret."""
    out = subprocess.run(
        [sys.executable, "-m", "linli", "token", "--role", "host", "--user", "b", "--user", "a",
         "--community", "c1", "--ttl", "60"],
        env=linli_env(tmp_path), capture_output=True, text=True, timeout=30, check=True,
    )
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2
    secret = (tmp_path / "secret").read_text().strip()
    principals = [verify_token(secret, line) for line in lines]
    assert [p.user_id for p in principals] == ["b", "a"]
    assert all(p.role == "host" and p.community_id == "c1" for p in principals)
    exp = jwt.decode(lines[0], secret, algorithms=["HS256"])["exp"]
    assert 0 < exp - time.time() <= 61


def test_token_uses_linli_secret_when_set(tmp_path: Path) -> None:
    """LINLI_SECRET signs the tokens and no secret file is written."""
    out = subprocess.run([sys.executable, "-m", "linli", "token", "--role", "operator", "--user", "root"],
                         env=linli_env(tmp_path, LINLI_SECRET="s3cret-" + "x" * 40), capture_output=True, text=True,
                         timeout=30, check=True)
    assert verify_token("s3cret-" + "x" * 40, out.stdout.strip()).role == "operator"
    assert not (tmp_path / "secret").exists()


def test_token_refuses_an_unknown_role(tmp_path: Path) -> None:
    """An unknown role is a usage error naming the valid ones."""
    out = subprocess.run([sys.executable, "-m", "linli", "token", "--role", "king", "--user", "x"],
                         env=linli_env(tmp_path), capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "resident" in out.stderr


def test_secret_is_generated_once(tmp_path: Path) -> None:
    """The generated secret is stable across calls."""
    assert load_secret(tmp_path, None) == load_secret(tmp_path, None)


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "Bearer x"])
def test_malformed_tokens_are_refused(token: str) -> None:
    """Garbage is an AuthError, never an exception of another kind."""
    with pytest.raises(AuthError):
        verify_token(K, token)


def test_short_linli_secret_is_refused(tmp_path: Path) -> None:
    """A LINLI_SECRET too short for HS256 is refused with a clear message."""
    out = subprocess.run([sys.executable, "-m", "linli", "token", "--role", "operator", "--user", "root"],
                         env=linli_env(tmp_path, LINLI_SECRET="short"), capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "at least 32 bytes" in out.stderr


K = "k" * 32


def test_expired_and_foreign_tokens_are_refused() -> None:
    """An expired token and one signed with another secret are both refused."""
    good = issue_token(K, user_id="u", role="resident", ttl_s=60)
    assert verify_token(K, good).user_id == "u"
    with pytest.raises(AuthError, match="invalid"):
        verify_token("o" * 32, good)
    now = int(time.time())
    expired = jwt.encode({"sub": "u", "role": "resident", "iat": now - 60, "exp": now - 5, "jti": "j1"}, K,
                         algorithm="HS256")
    with pytest.raises(AuthError, match="expired"):
        verify_token(K, expired)
    no_role = jwt.encode({"sub": "u", "role": "emperor", "iat": now, "exp": now + 60, "jti": "j2"}, K,
                         algorithm="HS256")
    with pytest.raises(AuthError, match="role"):
        verify_token(K, no_role)


def test_token_refuses_a_user_id_that_cannot_be_a_key(tmp_path: Path) -> None:
    """User ids become parts of Redis keys: braces, colons and spaces are refused up front."""
    out = subprocess.run([sys.executable, "-m", "linli", "token", "--role", "resident", "--user", "a:b"],
                         env=linli_env(tmp_path), capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "user id" in out.stderr


def _linli_token(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "linli", "token", *args], env=linli_env(tmp_path),
                          capture_output=True, text=True, timeout=30)


def test_an_admin_token_needs_its_community(tmp_path: Path) -> None:
    """`linli token --role admin` without --community is refused, saying to name it or make an operator;
    an operator with a community is refused too; an admin of c1 is bound to c1."""
    out = _linli_token(tmp_path, "--role", "admin", "--user", "root")
    assert out.returncode == 2 and "--community" in out.stderr and "operator" in out.stderr and not out.stdout
    out = _linli_token(tmp_path, "--role", "operator", "--user", "ops", "--community", "c1")
    assert out.returncode == 2 and "every community" in out.stderr and not out.stdout
    out = _linli_token(tmp_path, "--role", "admin", "--user", "boss", "--community", "c1")
    assert out.returncode == 0
    admin = verify_token((tmp_path / "secret").read_text().strip(), out.stdout.strip())
    assert (admin.role, admin.community_id) == ("admin", "c1")
    assert admin.can_act_in("c1") and not admin.can_act_in("c2")


def test_forged_scopes_are_refused() -> None:
    """A validly signed admin token naming no community, or an operator token naming one, is refused."""
    now = int(time.time())
    for claims in ({"role": "admin"}, {"role": "operator", "community": "c1"}):
        forged = jwt.encode({"sub": "u", "iat": now, "exp": now + 60, "jti": "j", **claims}, K, algorithm="HS256")
        with pytest.raises(AuthError, match="community"):
            verify_token(K, forged)
    with pytest.raises(AuthError):
        issue_token(K, user_id="u", role="admin")


def test_who_passes_which_door() -> None:
    """An operator passes every role and community; a community's admin passes community roles in its own
    community only, never an operator's or a supplier's door; everyone else their own role."""
    def who(role: str, community: str | None) -> Principal:
        return verify_token(K, issue_token(K, user_id="u", role=role, community_id=community))

    operator, admin, host = who("operator", None), who("admin", "c1"), who("host", "c1")
    assert operator.holds("operator") and operator.holds("supplier") and operator.can_act_in("c9")
    assert admin.holds("host") and admin.holds("grid", "host") and admin.holds()
    assert not admin.holds("operator") and not admin.holds("supplier")
    assert admin.can_act_in("c1") and not admin.can_act_in("c2")
    assert host.holds("host") and not host.holds("grid") and not host.holds("operator")


def test_tokens_carry_an_id_and_refuse_to_go_without(tmp_path: Path) -> None:
    """Every token has its own jti and iat (printed on stderr by `linli token`); one without a jti is refused."""
    out = _linli_token(tmp_path, "--role", "resident", "--user", "a", "--user", "b", "--community", "c1")
    secret = (tmp_path / "secret").read_text().strip()
    a, b = (verify_token(secret, line) for line in out.stdout.split())
    assert a.token_id and a.token_id != b.token_id and a.issued_at > 0
    assert f"jti {a.token_id}" in out.stderr and f"jti {b.token_id}" in out.stderr
    now = int(time.time())
    no_jti = jwt.encode({"sub": "u", "role": "resident", "iat": now, "exp": now + 60}, K, algorithm="HS256")
    with pytest.raises(AuthError, match="jti"):
        verify_token(K, no_jti)


@pytest.mark.parametrize(("role", "community", "hours"), [
    ("resident", "c1", 7 * 24), ("supplier", None, 7 * 24), ("grid", "c1", 7 * 24),
    ("host", "c1", 12), ("admin", "c1", 12), ("operator", None, 12)])
def test_hosts_admins_and_operators_get_shorter_lived_tokens(role: str, community: str | None, hours: int) -> None:
    """By default hosts', admins' and operators' tokens live 12 hours, everyone else's 7 days; none beyond 30 days."""
    p = verify_token(K, issue_token(K, user_id="u", role=role, community_id=community))
    assert p.expires_at - p.issued_at == hours * 3600
    with pytest.raises(AuthError, match="ttl"):
        issue_token(K, user_id="u", role=role, community_id=community, ttl_s=31 * 24 * 3600)
