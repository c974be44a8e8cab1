"""`linli token` and bearer-token checks."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest

from infra.auth import AuthError, issue_token, load_secret, verify_token
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
    out = subprocess.run([sys.executable, "-m", "linli", "token", "--role", "admin", "--user", "root"],
                         env=linli_env(tmp_path, LINLI_SECRET="s3cret-" + "x" * 40), capture_output=True, text=True,
                         timeout=30, check=True)
    assert verify_token("s3cret-" + "x" * 40, out.stdout.strip()).role == "admin"
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
    out = subprocess.run([sys.executable, "-m", "linli", "token", "--role", "admin", "--user", "root"],
                         env=linli_env(tmp_path, LINLI_SECRET="short"), capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "at least 32 bytes" in out.stderr


K = "k" * 32


def test_expired_and_foreign_tokens_are_refused() -> None:
    """An expired token and one signed with another secret are both refused."""
    good = issue_token(K, user_id="u", role="resident", ttl_s=60)
    assert verify_token(K, good).user_id == "u"
    with pytest.raises(AuthError, match="invalid"):
        verify_token("o" * 32, good)
    expired = jwt.encode({"sub": "u", "role": "resident", "exp": int(time.time()) - 5}, K, algorithm="HS256")
    with pytest.raises(AuthError, match="expired"):
        verify_token(K, expired)
    no_role = jwt.encode({"sub": "u", "role": "emperor", "exp": int(time.time()) + 60}, K, algorithm="HS256")
    with pytest.raises(AuthError, match="role"):
        verify_token(K, no_role)


def test_token_refuses_a_user_id_that_cannot_be_a_key(tmp_path: Path) -> None:
    """User ids become parts of Redis keys: braces, colons and spaces are refused up front."""
    out = subprocess.run([sys.executable, "-m", "linli", "token", "--role", "resident", "--user", "a:b"],
                         env=linli_env(tmp_path), capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "user id" in out.stderr
