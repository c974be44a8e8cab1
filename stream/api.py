"""The stream room's public face: what the app and other rooms may use, and nothing else.

Crowdfunding adds items to a live session, publishes stock after it changes holds, and tells a
resident in the room about her hold and her notices with personal frames; the app runs the live
rooms and mounts the routes; the demo creates a session.
"""

from stream.context import LIVE, Live
from stream.draw_audit import AuditRow, load_audit
from stream.errors import SessionNotFound
from stream.flash_schedule import NewFlashPlan
from stream.flash_schedule import schedule as schedule_flash
from stream.lifecycle import close_viewers, running_live
from stream.lucky import NewLuckyBag, create_bag
from stream.personal import RoomNotices, send_personal, set_hold_deadline
from stream.protocol import HoldPlaced, HoldReleased, ItemView, OrderView
from stream.reconnect import last_seq, resume_answer, snapshot_answer
from stream.routes import routes
from stream.sessions import (
    NewItem,
    SessionState,
    add_item,
    create_session,
    go_live,
    items,
    load_session,
    pin,
    start_flash,
)
from stream.video import INGEST, video_fields

__all__ = [
    "INGEST", "LIVE", "AuditRow",
    "HoldPlaced", "HoldReleased", "ItemView", "Live", "NewFlashPlan", "NewItem", "NewLuckyBag", "OrderView",
    "RoomNotices",
    "SessionNotFound", "SessionState", "add_item", "close_viewers", "create_bag", "create_session", "go_live", "items",
    "last_seq", "load_audit", "load_session", "pin", "resume_answer", "routes", "running_live",
    "schedule_flash", "send_personal", "set_hold_deadline", "snapshot_answer", "start_flash",
    "video_fields",
]
