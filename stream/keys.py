"""Redis keys of live sessions (all under the session hash tag {s:<sid>})."""

from __future__ import annotations

from infra.ids import session_tag as tag
from inventory import item_stock_key, outbox

# Not per session: every pending deadline (flash ends, bag draws), swept by every web process.
DEADLINES = "linli:deadlines"
# Not per session: "<sid>|<plan id>" of every scheduled flash by start time, polled by every web
# process; the plan itself (and its one claim) sits under the session's hash tag.
FLASH_STARTS = "linli:flash_starts"


def session(sid: str) -> str:
    return f"{tag(sid)}:session"


def catalog(sid: str) -> str:
    """Item id -> JSON of what viewers see beside the stock (title, unit, image)."""
    return f"{tag(sid)}:catalog"


def item_seq(sid: str) -> str:
    return f"{tag(sid)}:item_seq"


def channel(sid: str) -> str:
    return f"{tag(sid)}:events"


def personal(sid: str) -> str:
    """Frames for one user only (an envelope naming her), beside the session's broadcast channel."""
    return f"{tag(sid)}:personal"


def session_of(channel: str) -> str:
    """The session id of one of its channels (``{s:<sid>}:events``, ``{s:<sid>}:personal``)."""
    return channel[3:channel.index("}")]


def event_seq(sid: str) -> str:
    return f"{tag(sid)}:event_seq"


def history(sid: str) -> str:
    """A Redis Stream of the session's last broadcast events, entry id <seq>-0 (stream.history)."""
    return f"{tag(sid)}:history"


def hold_release_at(sid: str) -> str:
    """Epoch ms at which unconfirmed holds of the session go back to the live sale."""
    return f"{tag(sid)}:hold_release_at"


def stock_gate(sid: str, iid: str) -> str:
    return f"{tag(sid)}:stock_gate:{iid}"


def ws_ticket(sid: str, ticket: str) -> str:
    """JSON of who a single-use websocket ticket for the session was given to (stream.tickets)."""
    return f"{tag(sid)}:ticket:{ticket}"


def viewers(sid: str) -> str:
    return f"{tag(sid)}:viewers"


def conns(sid: str) -> str:
    return f"{tag(sid)}:conns"


def present(sid: str) -> str:
    return f"{tag(sid)}:present"


def procs(sid: str) -> str:
    """Web process id -> its last presence heartbeat (ms), for the processes with viewers in the session."""
    return f"{tag(sid)}:procs"


def proc_conns(sid: str, process_id: str) -> str:
    """One web process's share of ``conns``: user id -> her open connections on that process."""
    return f"{tag(sid)}:conns:{process_id}"


def grab_limit(sid: str, scope: str, ident: str, rule: int) -> str:
    """The state of one grab rate limit (limit_grabs.lua) of a user or an address in a session."""
    return f"{tag(sid)}:limit:grab:{scope}:{ident}:{rule}"


def bags(sid: str) -> str:
    return f"{tag(sid)}:bags"


def bag(sid: str, bid: str) -> str:
    return f"{tag(sid)}:bag:{bid}"


def bag_entrants(sid: str, bid: str) -> str:
    return f"{tag(sid)}:bag:{bid}:entrants"


def packet(sid: str, pid: str) -> str:
    return f"{tag(sid)}:packet:{pid}"


def packet_shares(sid: str, pid: str) -> str:
    return f"{tag(sid)}:packet:{pid}:shares"


def packet_takers(sid: str, pid: str) -> str:
    return f"{tag(sid)}:packet:{pid}:takers"


def outbox_of(sid: str) -> str:
    """The session's order outbox: lucky-bag draws and red-packet shares append to it too."""
    return outbox.outbox_key(sid)


def flash_plan(sid: str, pid: str) -> str:
    """One scheduled flash sale (stream.flash_schedule): item, start, duration, state, claim."""
    return f"{tag(sid)}:flash_plan:{pid}"


def flash_queue(sid: str) -> str:
    """The session's pending flash plans: plan id -> start time (ms)."""
    return f"{tag(sid)}:flash_queue"


def ticker_buyers(sid: str) -> str:
    """User ids of buyers the purchase ticker has not announced yet (stream.ticker)."""
    return f"{tag(sid)}:ticker:buyers"


def ticker_lock(sid: str) -> str:
    """The process that holds the ticker's current beat of the session."""
    return f"{tag(sid)}:ticker:lock"


def insight(sid: str, series: str) -> str:
    """One series of the host's live chart (stream.insight): grabs, revenue or viewers by epoch second."""
    return f"{tag(sid)}:insight:{series}"


def seen_viewers(sid: str) -> str:
    """Every user who joined the room (not staff), for the after-live conversion figure."""
    return f"{tag(sid)}:insight:seen"


def item_stock(sid: str, iid: str) -> str:
    """Inventory's stock hash of an item, which the stock publisher reads."""
    return item_stock_key(sid, iid)
