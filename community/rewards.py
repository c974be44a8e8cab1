"""Rewards residents exchange points for, their redemptions, and property-fee vouchers.

A redemption is one transaction: the resident's points account is locked first (see
``accounts``), a redemption of the same request id answers what it answered before, the stock
is taken by a conditional UPDATE (never below zero), and the points debit refuses to overdraw;
any refusal rolls the whole of it back. A fee offset carries a voucher code the property office
verifies once (an UPDATE that only an issued voucher passes).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec
import sqlalchemy as sa
from msgspec import Meta
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from community.accounts import lock_account, points_balance, post_points
from community.errors import CommunityNotFound
from infra.auth import Principal
from infra.errors import BadRequest, Conflict, NotFound
from infra.tables import communities, redemptions, residents, rewards
from infra.types import Cents, Id, Title

# No 0/O, 1/I/L: an office reads the code off an elderly resident's phone or a slip of paper.
VOUCHER_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
VOUCHER_LENGTH = 12  # 31^12, about 2^59: not guessable, and short enough to read out


class NewReward(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: Id
    title: Title
    points: Annotated[int, Meta(ge=1, le=1_000_000, description="the price in points")]
    kind: Literal["goods", "fee_offset"]
    value_cents: Cents = 0  # what a fee offset takes off the property fee
    stock: Annotated[int, Meta(ge=0, le=1_000_000)] | None = None  # None: unlimited


class RewardView(msgspec.Struct, kw_only=True):
    id: str
    community_id: str
    title: str
    points: int
    kind: str
    value_cents: int
    stock: int | None
    active: bool


class RewardList(msgspec.Struct, kw_only=True):
    rewards: list[RewardView]


class Redeem(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    request_id: Annotated[Id, Meta(description="one id per redemption: a retry with it redeems once")]


class RedemptionView(msgspec.Struct, kw_only=True):
    id: str
    reward_id: str
    title: str
    kind: str
    points: int
    value_cents: int
    status: str  # issued; verified once the office took the voucher
    voucher_code: str | None  # fee offsets only
    at: int  # epoch ms
    verified_at: int | None = None  # epoch ms


class Redeemed(RedemptionView, kw_only=True):
    balance: int
    replayed: bool  # true when this request id had redeemed already


class RedemptionList(msgspec.Struct, kw_only=True):
    redemptions: list[RedemptionView]  # newest first


class VoucherCheck(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    code: Annotated[str, Meta(min_length=1, max_length=40)]


class VoucherVerified(msgspec.Struct, kw_only=True):
    code: str
    redemption_id: str
    resident_id: str
    resident_name: str
    title: str
    value_cents: int
    verified_at: int  # epoch ms


def _ms(at: datetime | None) -> int | None:
    return None if at is None else int(at.timestamp() * 1000)


def _view(row: sa.Row) -> RewardView:  # type: ignore[type-arg]
    return RewardView(id=row.id, community_id=row.community_id, title=row.title, points=row.points, kind=row.kind,
                      value_cents=row.value_cents, stock=row.stock, active=row.active)


async def create_reward(engine: AsyncEngine, community_id: str, new: NewReward) -> RewardView:
    """Offer a reward; a fee offset must be worth something, goods are worth their points."""
    if not new.title.strip():
        raise BadRequest("title must not be blank")
    if new.kind == "fee_offset" and new.value_cents <= 0:
        raise BadRequest("a fee offset needs value_cents: what it takes off the property fee")
    async with engine.begin() as conn:
        if not await conn.scalar(sa.select(communities.c.id).where(communities.c.id == community_id)):
            raise CommunityNotFound(f"no community {community_id}")
        if await conn.scalar(sa.select(rewards.c.id).where(rewards.c.id == new.id)):
            raise Conflict(f"reward {new.id} exists already", code="reward_exists")
        try:
            await conn.execute(rewards.insert().values(
                id=new.id, community_id=community_id, title=new.title.strip(), points=new.points, kind=new.kind,
                value_cents=new.value_cents, stock=new.stock, active=True, created_at=datetime.now(UTC)))
        except sa.exc.IntegrityError as exc:  # created concurrently
            raise Conflict(f"reward {new.id} exists already", code="reward_exists") from exc
        row = (await conn.execute(sa.select(rewards).where(rewards.c.id == new.id))).one()
    return _view(row)


async def list_rewards(engine: AsyncEngine, community_id: str, *, everything: bool = False) -> RewardList:
    """The community's rewards, cheapest first: active ones, or (``everything``, for the office) all."""
    query = sa.select(rewards).where(rewards.c.community_id == community_id)
    if not everything:
        query = query.where(rewards.c.active.is_(True))
    async with engine.connect() as conn:
        rows = await conn.execute(query.order_by(rewards.c.points, rewards.c.id))
        return RewardList(rewards=[_view(r) for r in rows])


async def reward_in(engine: AsyncEngine, reward_id: str) -> RewardView:
    """A reward by id; NotFound ``unknown_reward``."""
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(rewards).where(rewards.c.id == reward_id))).first()
    if row is None:
        raise NotFound(f"no reward {reward_id}", code="unknown_reward")
    return _view(row)


async def set_active(engine: AsyncEngine, community_id: str, reward_id: str, active: bool) -> RewardView:
    """Withdraw a reward from residents' lists (or offer it again); redemptions made stay valid."""
    async with engine.begin() as conn:
        done = await conn.execute(rewards.update().where(rewards.c.id == reward_id,
                                                         rewards.c.community_id == community_id).values(active=active))
        if not done.rowcount:
            raise NotFound(f"no reward {reward_id} in this community", code="unknown_reward")
        return _view((await conn.execute(sa.select(rewards).where(rewards.c.id == reward_id))).one())


def redemption_id(user_id: str, request_id: str) -> str:
    """The redemption a request makes: the same resident and request id name the same one."""
    return "rd-" + hashlib.sha256(f"{user_id}\n{request_id}".encode()).hexdigest()[:40]


def new_voucher_code() -> str:
    return "".join(secrets.choice(VOUCHER_ALPHABET) for _ in range(VOUCHER_LENGTH))


def normal_code(raw: str) -> str:
    """A code as typed: any case, with spaces or dashes between its groups."""
    return "".join(ch for ch in raw.upper() if ch not in " -\t")


async def _redemption(conn: AsyncConnection, rid: str) -> RedemptionView | None:
    row = (await conn.execute(
        sa.select(redemptions, rewards.c.title, rewards.c.kind, rewards.c.value_cents)
        .join(rewards, rewards.c.id == redemptions.c.reward_id).where(redemptions.c.id == rid))).first()
    return None if row is None else _redemption_view(row)


def _redemption_view(row: sa.Row) -> RedemptionView:  # type: ignore[type-arg]
    return RedemptionView(id=row.id, reward_id=row.reward_id, title=row.title, kind=row.kind, points=row.points,
                          value_cents=row.value_cents if row.kind == "fee_offset" else 0, status=row.status,
                          voucher_code=row.voucher_code, at=_ms(row.created_at) or 0,
                          verified_at=_ms(row.verified_at))


async def redeem(engine: AsyncEngine, principal: Principal, reward_id: str, request_id: str) -> Redeemed:
    """Exchange points for a reward, once per request id; NotEnoughPoints, ``out_of_stock`` and
    ``reward_withdrawn`` change nothing."""
    rid = redemption_id(principal.user_id, request_id)
    async with engine.begin() as conn:
        # The account lock first: a resident's redemptions run one at a time, so the retry check
        # below sees the first attempt once it has committed.
        await lock_account(conn, f"points:{principal.user_id}")
        if (done := await _redemption(conn, rid)) is not None:
            if done.reward_id != reward_id:
                raise Conflict("that request id redeemed another reward", code="request_id_reused")
            return Redeemed(**msgspec.structs.asdict(done), balance=await points_balance(conn, principal.user_id),
                            replayed=True)
        reward = (await conn.execute(sa.select(rewards).where(rewards.c.id == reward_id))).first()
        home = await conn.scalar(sa.select(residents.c.community_id).where(residents.c.id == principal.user_id))
        if reward is None or reward.community_id != home or not principal.can_act_in(reward.community_id):
            raise NotFound(f"no reward {reward_id} in your community", code="unknown_reward")
        if not reward.active:
            raise Conflict("this reward is no longer offered", code="reward_withdrawn")
        if reward.stock is not None:
            # Conditional: of concurrent redemptions of the last one, exactly one passes.
            taken = await conn.execute(rewards.update().where(rewards.c.id == reward_id, rewards.c.stock > 0)
                                       .values(stock=rewards.c.stock - 1))
            if not taken.rowcount:
                raise Conflict("none left", code="out_of_stock")
        await post_points(conn, entry_id=f"redeem:{rid}", user_id=principal.user_id, points=-reward.points,
                          reason="redeemed", community_id=reward.community_id, ref=reward_id, note=reward.title)
        now = datetime.now(UTC)
        await conn.execute(redemptions.insert().values(
            id=rid, community_id=reward.community_id, user_id=principal.user_id, reward_id=reward_id,
            points=reward.points, status="issued", created_at=now,
            voucher_code=new_voucher_code() if reward.kind == "fee_offset" else None))
        made = await _redemption(conn, rid)
        assert made is not None
        balance = await points_balance(conn, principal.user_id)
    return Redeemed(**msgspec.structs.asdict(made), balance=balance, replayed=False)


async def redemptions_of(engine: AsyncEngine, user_id: str, *, limit: int = 100) -> RedemptionList:
    """A resident's redemptions and vouchers, newest first."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(redemptions, rewards.c.title, rewards.c.kind, rewards.c.value_cents)
            .join(rewards, rewards.c.id == redemptions.c.reward_id).where(redemptions.c.user_id == user_id)
            .order_by(redemptions.c.created_at.desc(), redemptions.c.id.desc()).limit(limit))
        return RedemptionList(redemptions=[_redemption_view(r) for r in rows])


async def verify_voucher(engine: AsyncEngine, principal: Principal, community_id: str, raw_code: str
                         ) -> VoucherVerified:
    """The property office takes a voucher, once: 404 ``unknown_voucher`` (another community's too),
    409 ``already_used``."""
    code = normal_code(raw_code)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        found = (await conn.execute(
            sa.select(redemptions, rewards.c.title, rewards.c.value_cents, residents.c.name)
            .join(rewards, rewards.c.id == redemptions.c.reward_id)
            .outerjoin(residents, residents.c.id == redemptions.c.user_id)
            .where(redemptions.c.voucher_code == code, redemptions.c.community_id == community_id))).first()
        if found is None:
            raise NotFound("no such voucher in this community", code="unknown_voucher")
        # Only an issued voucher passes this UPDATE: of two offices verifying at once, one does.
        taken = await conn.execute(redemptions.update().where(redemptions.c.id == found.id,
                                                              redemptions.c.status == "issued")
                                   .values(status="verified", verified_at=now, verified_by=principal.user_id))
        if not taken.rowcount:
            used = await conn.scalar(sa.select(redemptions.c.verified_at).where(redemptions.c.id == found.id))
            when = used.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if used else "before"
            raise Conflict(f"this voucher was used on {when}", code="already_used")
    return VoucherVerified(code=code, redemption_id=found.id, resident_id=found.user_id,
                           resident_name=found.name or found.user_id, title=found.title,
                           value_cents=found.value_cents, verified_at=_ms(now) or 0)
