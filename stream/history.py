"""A session's recent events, kept so a viewer back from a network blip resumes instead of resyncing.

Every script that numbers and publishes an event (publish_event, publish_stock, report_viewers,
draw_lucky_bag) also appends it, as published, to the session's history: a Redis Stream under the
session's hash tag whose entry id is ``<seq>-0``, trimmed to about ``HISTORY_LEN`` entries in that
same call. A reconnecting viewer sends the last seq she saw (``?since=`` on the join); if the history
still holds every event after it, she gets exactly those (``missed``), then live ones, and no snapshot.
"""

from __future__ import annotations

from redis.asyncio import Redis

from stream import keys
from stream.frames import event_seq

# About four minutes of a busy room (stock ticks, counts, comments) at ~8 events a second; each
# entry is the event's text, a few hundred bytes, so a session's history stays under ~1 MB.
HISTORY_LEN = 2000


async def missed(redis: Redis, sid: str, since: int) -> list[bytes] | None:
    """Every event after seq ``since``, in order; None when the history cannot give all of them
    (trimmed past ``since``, or ``since`` is ahead of the session): then a snapshot must."""
    pipe = redis.pipeline(transaction=True)  # the counter and the history as of one moment
    pipe.get(keys.event_seq(sid))
    pipe.xrange(keys.history(sid), min=f"{since + 1}-0", max="+")
    raw_seq, entries = await pipe.execute()
    last = int(raw_seq or 0)
    if since > last:
        return None
    frames = [fields[b"e"] for _id, fields in entries]
    # Contiguous from since + 1 up to the counter: nothing trimmed, nothing numbered but not kept.
    if len(frames) != last - since:
        return None
    for n, frame in enumerate(frames, start=since + 1):
        if event_seq(frame) != n:
            return None
    return frames
