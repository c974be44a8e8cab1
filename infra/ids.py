"""The shape of every id that ends up inside a Redis key or a token."""

import re

# No braces (they would break the session hash tag), no colons (key separators), no spaces.
# Python's "$" also matches before a trailing newline, which would let "abc\n" in; the lookahead
# refuses that and, unlike \Z, means the same in the OpenAPI document's (ECMA) regex dialect.
ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}(?!\n)$")
ID_RULE = "1-64 characters of letters, digits, '_', '-' or '.'"


def session_tag(sid: str) -> str:
    """The Redis Cluster hash tag every key of one live session carries, whichever room owns the key:
    one tag puts all of a session's keys in one slot, so any script may touch any of them."""
    return "{s:" + sid + "}"
