"""Stream's Lua scripts (``stream/lua/*.lua``), loaded once per process."""

from __future__ import annotations

from redis.asyncio import Redis

from infra.lua import LuaScript


def _script(name: str) -> LuaScript:
    return LuaScript.packaged("stream.lua", name)


class Scripts:
    """Every live-room script; each file opens with its contract (KEYS, ARGV, returns)."""

    def __init__(self) -> None:
        self.publish_event = _script("publish_event")
        self.publish_stock = _script("publish_stock")
        self.report_viewers = _script("report_viewers")
        self.join_room = _script("join_room")
        self.beat_presence = _script("beat_presence")
        self.reap_presence = _script("reap_presence")
        self.restore_presence = _script("restore_presence")
        self.limit_grabs = _script("limit_grabs")
        self.enter_lucky_bag = _script("enter_lucky_bag")
        self.draw_lucky_bag = _script("draw_lucky_bag")
        self.grab_red_packet = _script("grab_red_packet")
        self.note_purchase = _script("note_purchase")
        self.tick_session = _script("tick_session")
        self.claim_flash_plan = _script("claim_flash_plan")
        self.finish_flash_plan = _script("finish_flash_plan")
        self.cancel_flash_plan = _script("cancel_flash_plan")

    def all(self) -> list[LuaScript]:
        return [self.publish_event, self.publish_stock, self.report_viewers, self.join_room,
                self.beat_presence, self.reap_presence, self.restore_presence, self.limit_grabs,
                self.enter_lucky_bag, self.draw_lucky_bag, self.grab_red_packet, self.note_purchase,
                self.tick_session, self.claim_flash_plan, self.finish_flash_plan, self.cancel_flash_plan]

    async def load(self, redis: Redis) -> None:
        """Load every script now so the first call needs no extra round trip."""
        for script in self.all():
            await redis.script_load(script.source)
