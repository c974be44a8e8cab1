"""What a reconnecting viewer is sent, as the bytes that go on her socket: a snapshot (the old way,
and still the fallback) or ``resumed`` with the events she missed. bench.resume weighs the two."""

from __future__ import annotations

from stream import keys
from stream.context import Live
from stream.protocol import encoder
from stream.resume import resume_frames
from stream.room import build_snapshot
from stream.sessions import load_session


async def last_seq(live: Live, sid: str) -> int:
    """The seq of the session's last published event."""
    return int(await live.redis.get(keys.event_seq(sid)) or 0)


async def snapshot_answer(live: Live, sid: str, user_id: str) -> list[bytes]:
    """The frames of a join answered with a snapshot."""
    return [encoder.encode(await build_snapshot(live, await load_session(live, sid), user_id))]


async def resume_answer(live: Live, sid: str, user_id: str, role: str, since: int) -> list[bytes] | None:
    """The frames of a join with ``since`` answered from the history; None when it does not cover it."""
    return await resume_frames(live, sid, user_id, role, since)
