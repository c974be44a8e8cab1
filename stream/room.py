"""The websocket of a live room: join, snapshot, then frames in and events out."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Coroutine

import msgspec
from aiohttp import web

from infra import metrics
from infra.errors import DomainError, Forbidden
from infra.http import MAX_NESTING, STORE_ERRORS, authenticate, nests_too_deep
from infra.lean_request import peer_address, query_value
from infra.middlewares import guarded, guards_its_opening
from infra.types import readable
from infra.websocket import ClientGone, TakenOver
from stream import keys
from stream.admission import joinable
from stream.comment_grab import grab_by_comment
from stream.context import LIVE, Live
from stream.errors import RateLimited
from stream.flash_schedule import pending_plans
from stream.limits import FrameLimiter
from stream.lucky import bags_with_passphrase, enter_bag, grab_packet, open_bags
from stream.personal import hold_deadline
from stream.protocol import (
    Comment,
    CommentEvent,
    ConfirmHold,
    EnterLuckyBag,
    Error,
    Grab,
    GrabRedPacket,
    GrabResult,
    HoldConfirmed,
    LuckyBagEntered,
    OrderView,
    Ping,
    RedPacketResult,
    Snapshot,
    client_decoder,
    encoder,
)
from stream.proxy import NOT_YOURS, ProxyDesk
from stream.resume import resume, resume_point
from stream.sessions import SessionState, items, load_session, now_ms
from stream.ticker import note_viewer
from stream.tickets import redeem_ticket
from stream.viewer import Viewer

log = logging.getLogger(__name__)

# A resident always sees what she holds and has kept; a released hold is gone from the room.
SHOWN_HOLDS = ("reserved", "confirmed")

MAX_COMMENT = 200
GRAB_ROLES = ("resident", "grid", "admin")
FLOOD_CLOSE_CODE = 1008
UNAVAILABLE_CLOSE_CODE = 1013  # try again later
INTERNAL_CLOSE_CODE = 1011


async def build_snapshot(live: Live, state: SessionState, user_id: str) -> Snapshot:
    """Everything a viewer needs to draw the room, numbered with the last published seq."""
    seq = int(await live.redis.get(keys.event_seq(state.id)) or 0)
    mine = [OrderView(**o) for o in await live.inventory.orders_of(state.id, user_id)]  # type: ignore[arg-type]
    return Snapshot(
        seq=seq, ts=now_ms(), session_id=state.id, title=state.title, status=state.status,
        pinned_item_id=state.pinned_item_id, items=await items(live, state.id),
        lucky_bags=await open_bags(live, state.id, user_id), viewers=await live.hub.total_viewers(state.id),
        me=user_id, holds=[o for o in mine if o.kind == "hold" and o.status in SHOWN_HOLDS],
        orders=[o for o in mine if o.kind != "hold"], stream_url=state.stream_url,
        hold_release_at=await hold_deadline(live, state.id), flash_plans=await pending_plans(live, state.id),
    )


async def _send_snapshot(live: Live, viewer: Viewer) -> None:
    """Her snapshot, built and sent in a frame of its own: a local of the caller would live as long as
    the join, a copy of the whole room's catalog."""
    snapshot = await build_snapshot(live, await load_session(live, viewer.sid), viewer.user_id)
    viewer.min_seq = snapshot.seq
    viewer.send_first(encoder.encode(snapshot))


@guards_its_opening
async def live_room(request: web.Request) -> web.StreamResponse:
    """GET /ws/sessions/{sid}: a single-use ?ticket= (browsers) or the Authorization header (other clients);
    ``?since=<seq>``: the last event seen, to resume from the session's history instead of a snapshot.

    The app's guards run around the opening only (infra.middlewares). Once the handshake is answered
    her socket is her Viewer's (infra.websocket) and the handler returns: nothing of the request, the
    guards or aiohttp's websocket stays for an idle viewer."""
    return await guarded(request, _open_room)


def _in_background(live: Live, work: Coroutine[None, None, None]) -> None:
    task = asyncio.get_running_loop().create_task(work)
    live.viewer_tasks.add(task)
    task.add_done_callback(live.viewer_tasks.discard)


async def _join(live: Live, viewer: Viewer, since: int | None, address: str | None) -> None:
    """Her place in the room's presence and in the room, her first frames, then her frames heard."""
    try:
        if not await _counted_in(live, viewer):
            return
    except Exception:
        log.exception("live room failed")
        _hang_up(viewer, Error(code="internal", message="something went wrong on our side"), INTERNAL_CLOSE_CODE)
        return
    metrics.viewer_joined()
    try:
        await note_viewer(live, viewer.sid, viewer.user_id, viewer.role)
        await live.hub.join(viewer)
        # Her first frames (the snapshot, or what she missed) go out before events may reach her socket.
        if not await resume(live, viewer, since):
            await _send_snapshot(live, viewer)
        viewer.start()
        viewer.listen(RoomFrames(live, address))
    except STORE_ERRORS as exc:
        # The handshake is answered already, so no HTTP problem body can follow: an error frame and a close.
        log.warning("a store failed in a live room: %r", exc)
        metrics.store_error(exc, "live")
        _hang_up(viewer, Error(code="unavailable", message="please try again in a moment"), UNAVAILABLE_CLOSE_CODE)
    except Exception:
        log.exception("live room failed")
        _hang_up(viewer, Error(code="internal", message="something went wrong on our side"), INTERNAL_CLOSE_CODE)
    finally:
        # Once joined, not before: her leaving never overtakes her joining.
        viewer.when_gone(functools.partial(_gone, live, viewer))


def _gone(live: Live, viewer: Viewer) -> None:
    """Her socket closed: she leaves the room and its presence."""
    _in_background(live, _leave(live, viewer))


async def _leave(live: Live, viewer: Viewer) -> None:
    metrics.viewer_left()
    await live.hub.leave(viewer)
    with contextlib.suppress(Exception):
        await live.presence.leave(viewer.sid, viewer.user_id)


class RoomFrames:
    """What one viewer's frames need: her limits and her proxy desk, made at her first frame (most viewers
    only watch, and ten thousand idle limiters add up). No lookup: at a flash sale's start every viewer's
    first frame is a grab, thousands at once (the desk asks for the session's community at a grid
    worker's first grab for a resident)."""

    __slots__ = ("address", "desk", "limiter", "live")

    def __init__(self, live: Live, address: str | None) -> None:
        self.live = live
        self.address = address
        self.limiter: FrameLimiter | None = None
        self.desk: ProxyDesk | None = None

    async def __call__(self, viewer: Viewer, message: str | bytes) -> None:
        live = self.live
        if isinstance(message, bytes):
            viewer.offer(encoder.encode(Error(code="bad_frame", message="send JSON text frames")))
            return
        if self.limiter is None or self.desk is None:
            self.limiter, self.desk = self._ready(viewer)
        await handle_frame(live, viewer, message, self.limiter, self.desk)
        if self.limiter.flooding:
            # Let the refusals already queued reach the client, then hang up.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(viewer.flush(), 2)
            viewer.close(FLOOD_CLOSE_CODE, b"too many frames")

    def _ready(self, viewer: Viewer) -> tuple[FrameLimiter, ProxyDesk]:
        live = self.live

        async def community() -> str:
            return (await load_session(live, viewer.sid)).community_id

        limiter = FrameLimiter(live.grab_rate, shared=live.limits, grabs=live.grab_limits, sid=viewer.sid,
                               user_id=viewer.user_id, address=self.address)
        return limiter, ProxyDesk(live.engine, community, viewer.user_id, viewer.role)


async def _open_room(request: web.Request) -> web.StreamResponse:
    """Who, which session, the handshake; her joining then goes on in a task of its own, for aiohttp may
    cancel a handler whose connection it no longer has: nothing here awaits after the handshake."""
    live, sid, ticket = request.app[LIVE], request.match_info["sid"], query_value(request, "ticket")
    since = resume_point(query_value(request, "since"))
    # Who first, then which session: a stranger learns nothing of which sessions exist.
    principal = await redeem_ticket(live, sid, ticket) if ticket is not None else authenticate(request)
    state = await joinable(live, principal, sid)
    address = peer_address(request)  # read off the transport, which is the viewer's after the handshake
    viewer = Viewer(state.id, principal.user_id, principal.role)
    try:
        await viewer.accept(request)
    except ClientGone:
        return TakenOver()  # nothing to join, nothing to answer
    _in_background(live, _join(live, viewer, since, address))
    return TakenOver()


def _hang_up(viewer: Viewer, error: Error, close_code: int) -> None:
    viewer.hang_up(encoder.encode(error), close_code, error.message.encode())


async def _counted_in(live: Live, viewer: Viewer) -> bool:
    """Count the connection in the room's presence; a user over the cap per session is told
    why and closed (an error frame, since a browser cannot read a refused handshake's status)."""
    try:
        if await live.presence.join(viewer.sid, viewer.user_id):
            return True
    except STORE_ERRORS as exc:
        log.warning("presence unavailable for a join to %s: %r", viewer.sid, exc)
        _hang_up(viewer, Error(code="unavailable", message="please try again in a moment"), UNAVAILABLE_CLOSE_CODE)
        return False
    cap = live.presence.max_per_user
    message = f"too many open connections to this room (at most {cap}): close another tab or device"
    _hang_up(viewer, Error(code="rate_limited", message=message), FLOOD_CLOSE_CODE)
    return False


async def handle_frame(live: Live, viewer: Viewer, data: str, limiter: FrameLimiter,
                       desk: ProxyDesk | None = None) -> None:
    """Decode one client frame and act; every failure becomes one error frame (the one place)."""
    request_id = None
    received, grabbing = time.perf_counter(), False  # a grab refused by an exception is answered too
    try:
        _limit(limiter, "any")
        if nests_too_deep(data.encode()):
            raise DomainError(f"could not read that frame: it nests more than {MAX_NESTING} deep", code="bad_frame")
        try:
            frame = client_decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise DomainError(f"could not read that frame: {readable(str(exc))}", code="bad_frame") from exc
        except RecursionError as exc:  # msgspec's depth limit: no frame of ours nests more than two levels
            raise DomainError("could not read that frame: it nests too deeply", code="bad_frame") from exc
        match frame:
            case Grab(item_id=iid, qty=qty, request_id=rid, for_user=resident):
                request_id = rid if isinstance(rid, str) and len(rid) <= 64 else None
                grabbing = True
                _need_role(viewer, GRAB_ROLES, "grab")
                # The grab counts against the caller's own limits, whoever it is for; the
                # reserve call checks the shared ones itself (one round trip).
                _limit(limiter, "grab")
                if resident is not None:
                    if desk is None or not await desk.may_grab_for(resident):
                        await limiter.check_shared("grab")  # counted as a grab, as any refused one is
                        viewer.offer(encoder.encode(GrabResult(request_id=rid, ok=False, reason=NOT_YOURS)))
                        metrics.grab_answered(NOT_YOURS, received)
                        return
                    r = await limiter.reserve(live.inventory, iid, resident, qty, rid, proxy=viewer.user_id)
                else:
                    r = await limiter.reserve(live.inventory, iid, viewer.user_id, qty, rid)
                viewer.offer(encoder.encode(GrabResult(request_id=rid, ok=r.ok, order_id=r.order_id,
                                                       reason=r.reason, left=r.left)))
                metrics.grab_answered("repeated" if r.repeated else r.reason, received)
                grabbing = False
                if r.ok and not r.repeated:
                    await live.stock.changed(viewer.sid, iid, r.left)
                    live.purchases.note_soon(viewer.sid, iid, resident or viewer.user_id, qty)
            case EnterLuckyBag(bag_id=bid, passphrase=passphrase):
                _need_role(viewer, ("resident",), "enter lucky bags")
                _limit(limiter, "enter")
                await enter_bag(live, viewer.sid, bid, viewer.user_id, passphrase or "")
                viewer.offer(encoder.encode(LuckyBagEntered(bag_id=bid)))
            case Comment(text=text, request_id=comment_id):
                text = text.strip()
                if not text or len(text) > MAX_COMMENT:
                    raise DomainError(f"a comment is 1 to {MAX_COMMENT} characters", code="bad_comment")
                _limit(limiter, "comment")
                await limiter.check_shared("comment")
                if viewer.name is None:  # looked up at her first comment: most viewers never write one
                    viewer.name = await live.hub.shown_name(viewer)
                await live.publisher.publish(viewer.sid, CommentEvent(
                    user_id=viewer.user_id, name=viewer.name, role=viewer.role, text=text))
                if viewer.role == "resident":
                    for bid in await bags_with_passphrase(live, viewer.sid, text):
                        await enter_bag(live, viewer.sid, bid, viewer.user_id, text)
                        viewer.offer(encoder.encode(LuckyBagEntered(bag_id=bid)))
                if viewer.role in GRAB_ROLES:
                    await grab_by_comment(live, viewer, text, comment_id, limiter)
            case GrabRedPacket(packet_id=pid):
                _need_role(viewer, ("resident",), "grab red packets")
                _limit(limiter, "grab")
                await limiter.check_shared("grab")
                ok, points, reason = await grab_packet(live, viewer.sid, pid, viewer.user_id)
                viewer.offer(encoder.encode(RedPacketResult(packet_id=pid, ok=ok, points=points, reason=reason)))
            case ConfirmHold(order_id=oid):
                _limit(limiter, "grab")
                reason = await live.inventory.confirm_hold(viewer.sid, oid, viewer.user_id)
                if reason != "confirmed":
                    messages = {"released": "too late: the hold went back to the live sale",
                                "not_a_hold": "that order is not a hold"}
                    raise DomainError(messages.get(reason, reason), code=reason)
                viewer.offer(encoder.encode(HoldConfirmed(order_id=oid)))
            case Ping():
                pass  # keeps mobile networks from dropping an idle socket; nothing to answer
    except DomainError as exc:
        viewer.offer(encoder.encode(Error(code=exc.code, message=exc.message, request_id=request_id)))
        if grabbing:
            metrics.grab_answered(exc.code, received)
    except STORE_ERRORS as exc:
        # A line, not a traceback: while a store is down every frame fails the same way.
        log.warning("a store failed while handling a frame: %r", exc)
        metrics.store_error(exc, "live")
        if grabbing:
            metrics.grab_answered("unavailable", received)
        viewer.offer(encoder.encode(Error(code="unavailable", message="please try again in a moment",
                                          request_id=request_id)))
    except Exception:  # a bug must cost one error frame, not the resident's connection
        log.exception("frame handling failed")
        if grabbing:
            metrics.grab_answered("internal", received)
        viewer.offer(encoder.encode(Error(code="internal", message="something went wrong on our side",
                                          request_id=request_id)))


def _need_role(viewer: Viewer, roles: tuple[str, ...], what: str) -> None:
    if viewer.role not in roles:
        raise Forbidden(f"a {viewer.role} cannot {what}")


def _limit(limiter: FrameLimiter, kind: str) -> None:
    if not limiter.allow(kind):
        raise RateLimited("slow down: too many requests")
