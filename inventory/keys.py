"""Redis key builders. Every key of one live session carries the hash tag {s:<sid>},
so all of a script's keys fall in one Redis Cluster slot."""

from __future__ import annotations

from infra.ids import session_tag as tag

# Not per session: the worker's list of session outboxes to drain.
OUTBOX_REGISTRY = "linli:outboxes"


def items(sid: str) -> str:
    return f"{tag(sid)}:items"


def item(sid: str, iid: str) -> str:
    """An item's stock hash: left, sold, limit, price, on_sale, ends_at (other rooms' scripts may read it)."""
    return f"{tag(sid)}:item:{iid}"


def bought(sid: str, iid: str) -> str:
    return f"{tag(sid)}:bought:{iid}"


def request(sid: str, uid: str, rid: str) -> str:
    return f"{tag(sid)}:req:{uid}:{rid}"


def orders(sid: str) -> str:
    return f"{tag(sid)}:orders"


def user_orders(sid: str, uid: str) -> str:
    return f"{tag(sid)}:user_orders:{uid}"


def order_seq(sid: str) -> str:
    return f"{tag(sid)}:seq"


def outbox(sid: str) -> str:
    return f"{tag(sid)}:outbox"


def session_of_outbox(stream_key: str) -> str:
    """The session id in an outbox key (inverse of ``outbox``)."""
    return stream_key[len(tag("")) - 1:stream_key.index("}")]
