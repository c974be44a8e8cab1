"""Resume, not resync: a viewer back after a blip gets the events she missed instead of a snapshot.

A join with ``?since=<seq>`` (the last seq the viewer saw) is answered with a ``resumed`` frame and
then exactly the events after that seq from the session's history (stream.history), in order and
each in the viewer's audience edition, then live ones. The viewer is in the hub before the history
is read, so an event published meanwhile is both replayed and queued; the hub's ``min_seq`` drops
the queued copy, so there is no gap and no duplicate. When the history no longer covers ``since``
the join gets a snapshot as always.
"""

from __future__ import annotations

from aiohttp import WSMsgType

from infra.errors import BadRequest
from stream import history
from stream.context import Live
from stream.hub import Viewer
from stream.personal import hold_deadline
from stream.protocol import OrderView, Resumed, encoder
from stream.sessions import load_session

MAX_SEQ = 2**53 - 1  # what a page's JavaScript number holds exactly
SHOWN_HOLDS = ("reserved", "confirmed")


def resume_point(raw: str | None) -> int | None:
    """The ``since`` of a join: None for none, else a whole number of at most 2**53 - 1 (400 otherwise)."""
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 16 or int(raw) > MAX_SEQ:
        raise BadRequest("since must be the seq of the last event seen, a whole number >= 0", code="bad_since")
    return int(raw)


async def resume(live: Live, viewer: Viewer, since: int | None) -> bool:
    """Send the viewer what she missed after ``since``; False when a snapshot must be sent instead."""
    if since is None or since == 0:
        return False
    frames = await history.missed(live.redis, viewer.sid, since)
    if frames is None:
        return False
    state = await load_session(live, viewer.sid)
    mine = [OrderView(**o) for o in await live.inventory.orders_of(viewer.sid, viewer.user_id)]  # type: ignore[arg-type]
    first = Resumed(after=since, missed=len(frames), status=state.status,
                    viewers=await live.hub.total_viewers(viewer.sid),
                    holds=[o for o in mine if o.kind == "hold" and o.status in SHOWN_HOLDS],
                    orders=[o for o in mine if o.kind != "hold"], hold_release_at=await hold_deadline(live, viewer.sid))
    viewer.min_seq = since + len(frames)  # anything queued meanwhile up to here is among the replayed
    await viewer.ws.send_frame(encoder.encode(first), WSMsgType.TEXT)
    for frame in frames:
        await viewer.ws.send_frame(await live.hub.edition(viewer, frame), WSMsgType.TEXT)
    return True
