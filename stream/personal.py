"""Frames for one resident: her holds and her notices, wherever she watches the session.

They go over the session's personal channel (``{s:<sid>}:personal``, a shard channel: SPUBLISH, so on
a cluster it stays on the node owning the session's slot) as an envelope naming the user, so every
web process hands each frame to that user's viewers only; a resident who is not in the room gets
nothing here (what she must know is stored elsewhere: her holds in the snapshot, her notices in the
inbox). Personal frames carry no seq: they are not part of the room's numbered history, and a repeat
after a reconnect changes nothing on the page. For the same reason one published while the session's
node fails over can be lost: the page shows it again from the snapshot or the inbox on its next load.
"""

from __future__ import annotations

import msgspec

from community.api import Notice
from stream import keys
from stream.context import Live
from stream.protocol import NoticeFrame, NoticeView, Personal, encoder


async def send_personal(live: Live, sid: str, user_id: str, frame: msgspec.Struct) -> None:
    """Send a frame to one user's viewers of a session, on every web process."""
    envelope = Personal(to=user_id, frame=msgspec.Raw(encoder.encode(frame)))
    # The channel is the command's key: a cluster sends it to the node owning the session's slot.
    await live.redis.spublish(keys.personal(sid), encoder.encode(envelope))


async def set_hold_deadline(live: Live, sid: str, release_at_ms: int) -> None:
    """When the session's unconfirmed holds go back to the live sale (shown in every snapshot)."""
    await live.redis.set(keys.hold_release_at(sid), release_at_ms)


async def hold_deadline(live: Live, sid: str) -> int:
    """The session's hold release time in epoch ms, 0 when it has no holds."""
    return int(await live.redis.get(keys.hold_release_at(sid)) or 0)


class RoomNotices:
    """A notice channel: a resident watching the session gets each notice as a ``notice`` frame."""

    name = "live"

    def __init__(self, live: Live, sid: str) -> None:
        self.live = live
        self.sid = sid

    async def send(self, notice: Notice) -> None:
        view = NoticeView(id=notice.id, kind=notice.kind, params=notice.params, link=notice.link,
                          created_at=notice.created_at)
        await send_personal(self.live, self.sid, notice.user_id, NoticeFrame(notice=view))
