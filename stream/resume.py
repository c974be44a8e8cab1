"""Resume, not resync: a viewer back after a blip gets the events she missed instead of a snapshot.

A join with ``?since=<seq>`` (the last seq the viewer saw) is answered with a ``resumed`` frame and
then exactly the events after that seq from the session's history (stream.history), in order and
each in the viewer's audience edition, then live ones. The viewer is in the hub before the history
is read, so an event published meanwhile is both replayed and queued; the hub's ``min_seq`` drops
the queued copy, so there is no gap and no duplicate. When the history no longer covers ``since``
the join gets a snapshot as always, and so it does when the missed events are more bytes than
``RESUME_MAX_BYTES`` (a snapshot is then smaller).
"""

from __future__ import annotations

from infra.errors import BadRequest
from stream import history
from stream.context import Live
from stream.personal import hold_deadline
from stream.protocol import OrderView, Resumed, encoder
from stream.sessions import load_session
from stream.viewer import Viewer

MAX_SEQ = 2**53 - 1  # what a page's JavaScript number holds exactly
# Past this many bytes of missed events a snapshot is cheaper to send (a busy room's is ~4-10 KB):
# a viewer away for minutes gets a snapshot rather than a long replay (docs/benchmarks.md, 3b).
RESUME_MAX_BYTES = 16 * 1024
SHOWN_HOLDS = ("reserved", "confirmed")


def resume_point(raw: str | None) -> int | None:
    """The ``since`` of a join: None for none, else a whole number of at most 2**53 - 1 (400 otherwise)."""
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 16 or int(raw) > MAX_SEQ:
        raise BadRequest("since must be the seq of the last event seen, a whole number >= 0", code="bad_since")
    return int(raw)


async def resume_frames(live: Live, sid: str, user_id: str, role: str, since: int) -> list[bytes] | None:
    """The frames of a resumed join, encoded: ``resumed``, then each missed event in the edition of the
    viewer's audience; None when the history does not cover ``since`` (a snapshot must be sent)."""
    frames = await history.missed(live.redis, sid, since)
    if frames is None or sum(len(f) for f in frames) > RESUME_MAX_BYTES:
        return None
    state = await load_session(live, sid)
    mine = [OrderView(**o) for o in await live.inventory.orders_of(sid, user_id)]  # type: ignore[arg-type]
    first = Resumed(after=since, missed=len(frames), status=state.status, viewers=await live.hub.total_viewers(sid),
                    holds=[o for o in mine if o.kind == "hold" and o.status in SHOWN_HOLDS],
                    orders=[o for o in mine if o.kind != "hold"], hold_release_at=await hold_deadline(live, sid))
    return [encoder.encode(first), *[await live.hub.edition(user_id, role, frame) for frame in frames]]


async def resume(live: Live, viewer: Viewer, since: int | None) -> bool:
    """Send the viewer what she missed after ``since``; False when a snapshot must be sent instead."""
    if since is None or since == 0:
        return False
    frames = await resume_frames(live, viewer.sid, viewer.user_id, viewer.role, since)
    if frames is None:
        return False
    viewer.min_seq = since + len(frames) - 1  # anything queued meanwhile up to here is among the replayed
    for frame in frames:
        viewer.send_first(frame)
    return True
