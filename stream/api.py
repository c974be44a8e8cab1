"""The stream room's public face: what the app and other rooms may use, and nothing else.

Crowdfunding adds items to a live session and publishes stock after it changes holds; the app
runs the live rooms and mounts the routes; the demo creates a session.
"""

from stream.context import LIVE, Live
from stream.errors import SessionNotFound
from stream.lifecycle import close_viewers, running_live
from stream.protocol import ItemView
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

__all__ = [
    "LIVE", "ItemView", "Live", "NewItem", "SessionNotFound", "SessionState", "add_item", "close_viewers",
    "create_session", "go_live", "items", "load_session", "pin", "routes", "running_live", "start_flash",
]
