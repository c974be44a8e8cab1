"""Input rules shared by more than one room, declared once as constrained types.

A request Struct names its fields with these, so msgspec checks them while decoding and the
OpenAPI document shows them; the domain code then only checks what needs the database or
more than one field (a title of spaces, a prize or points, times in order).
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from infra.ids import ID_RE, ID_RULE

MAX_CENTS = 10_000_000  # 100,000 yuan: a price above this is a typo

Id = Annotated[str, Meta(pattern=ID_RE.pattern, description=ID_RULE)]
Title = Annotated[str, Meta(min_length=1, max_length=200)]
Unit = Annotated[str, Meta(min_length=1, max_length=16, description="the sale unit: 斤, 盒, 份 ...")]
Cents = Annotated[int, Meta(ge=0, le=MAX_CENTS, description="money in integer cents (分)")]
# A SQL INTEGER column holds 32 bits on PostgreSQL (SQLite takes 64): any number stored or looked up
# in one is bounded by this, or PostgreSQL refuses it (SQLite past 64 bits) after validation passed.
MAX_SQL_INT = 2**31 - 1
RowId = Annotated[int, Meta(ge=1, le=MAX_SQL_INT, description="a row's number")]
# Times on the wire; the upper bound is where a year 2100 starts, well inside what datetime holds.
MAX_EPOCH_MS = 4_102_444_800_000
EpochMs = Annotated[int, Meta(ge=0, le=MAX_EPOCH_MS, description="UTC epoch milliseconds")]
# Only http(s): a page puts these in src attributes, where javascript: or data: would be trouble.
HTTP_URL_PATTERN = r"^https?://[^\s/?#]+[^\s]*(?!\n)$"
HTTP_URL_RULE = "an http:// or https:// URL of at most 500 characters, without spaces"
HttpUrl = Annotated[str, Meta(pattern=HTTP_URL_PATTERN, max_length=500, description=HTTP_URL_RULE)]

# msgspec names a failed pattern by its regex; people read the rule instead.
_RULES = {ID_RE.pattern: ID_RULE, HTTP_URL_PATTERN: HTTP_URL_RULE}


def readable(message: str) -> str:
    """A validation message with each known pattern replaced by the rule it stands for."""
    for pattern, rule in _RULES.items():
        message = message.replace(f"matching regex {pattern!r}", f"of {rule}")
    return message
