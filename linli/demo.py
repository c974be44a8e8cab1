"""`linli serve --demo`: a community, a live session with items, and tokens to try them with."""

from __future__ import annotations

import logging

from community.api import CommunityExists, create_community
from infra.auth import issue_token, verify_token
from infra.resources import Resources
from stream import api as stream

log = logging.getLogger(__name__)

COMMUNITY = ("demo", "幸福里社区")
DEMO_KEY = "linli:demo:session"
ITEMS = [
    stream.NewItem(title="本地红薯", price_cents=350, stock=200, per_user_limit=5, unit="斤"),
    stream.NewItem(title="海鸭蛋", price_cents=2800, stock=60, per_user_limit=2, unit="盒"),
    stream.NewItem(title="新小米", price_cents=800, stock=100, per_user_limit=3, unit="斤"),
]


PEOPLE = [("wang-ayi", "王阿姨", "resident"), ("li-dashu", "李大叔", "resident"), ("zhao-nainai", "赵奶奶", "resident"),
          ("demo-host", "主播 小周", "host"), ("demo-farm", "供应商 东山农场", "supplier")]


def demo_people(secret: str, sid: str) -> list[dict[str, str]]:
    """Who to be in the demo: each with a link that signs them in."""
    people = []
    for user, name, role in PEOPLE:
        token = issue_token(secret, user_id=user, role=role,
                            community_id=None if role == "supplier" else COMMUNITY[0])
        page = {"resident": f"/live/{sid}?", "host": f"/host?session={sid}&", "supplier": "/supplier?"}[role]
        people.append({"name": name, "role": role, "user_id": user, "url": f"{page}token={token}"})
    return people


async def seed_demo(res: Resources, live: stream.Live) -> list[str]:
    """Create the demo once (kept across restarts); returns the lines to print."""
    try:
        await create_community(res.engine, *COMMUNITY)
    except CommunityExists:
        pass
    host = issue_token(res.secret, user_id="demo-host", role="host", community_id=COMMUNITY[0])
    sid = (await res.redis.get(DEMO_KEY) or b"").decode()
    try:
        await stream.load_session(live, sid)
    except stream.SessionNotFound:
        state = await stream.create_session(live, verify_token(res.secret, host), "周六助农直播", COMMUNITY[0])
        for item in ITEMS:
            await stream.add_item(live, state.id, item)
        await stream.go_live(live, state)
        sid = state.id
        await res.redis.set(DEMO_KEY, sid)
    base = f"http://{res.settings.host}:{res.settings.port}"
    lines = [f"demo community {COMMUNITY[0]} ({COMMUNITY[1]}), live session {sid}: choose who to be at {base}/",
             f"  host token (demo-host): {host}"]
    for person in demo_people(res.secret, sid):
        lines.append(f"  {person['role']} {person['user_id']}: {base}{person['url']}")
    return lines
