"""Residents and pickup points of a community."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Annotated, Any, Literal

import msgspec
import sqlalchemy as sa
from pypinyin import Style, lazy_pinyin
from sqlalchemy.ext.asyncio import AsyncEngine

from community.errors import CommunityExists
from community.registry import get_community
from infra.errors import BadRequest, NotFound
from infra.tables import pickup_points, residents
from infra.types import Id

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
# What the group chat calls her (开心果, 阿梅): the chain import matches these like her name.
Aliases = Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=50)]], msgspec.Meta(max_length=10)]


PointKind = Literal["store", "pharmacy", "locker"]
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]


class NewPickupPoint(msgspec.Struct, kw_only=True):
    id: Id
    name: Name
    address: Annotated[str, msgspec.Meta(max_length=300)] = ""
    kind: PointKind = "store"
    lat: Latitude | None = None
    lng: Longitude | None = None
    hours: Annotated[str, msgspec.Meta(max_length=100, description="opening hours, e.g. 08:00-21:00")] = ""
    capacity: Annotated[int, msgspec.Meta(ge=1, le=100_000, description="a locker's compartments")] | None = None


class NewResident(msgspec.Struct, kw_only=True):
    id: Annotated[Id, msgspec.Meta(description="the resident's token user id")]
    name: Name
    phone: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    building: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    # e.g. 1205: how group chats name a household (3-1205)
    room: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    grid_worker_id: Annotated[Id, msgspec.Meta(
        description="her grid worker's user id; a grid worker who registers a resident becomes hers")] | None = None
    aliases: Aliases = []


class ResidentEdit(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What her grid worker or host may correct: her name, household and nicknames (absent: unchanged)."""

    name: Name | None = None
    building: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    room: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    aliases: Aliases | None = None


class PickupPoint(msgspec.Struct, kw_only=True):
    id: str
    name: str
    address: str
    kind: str = "store"  # store, pharmacy, locker
    lat: float | None = None
    lng: float | None = None
    hours: str = ""
    capacity: int | None = None


class PlacedPickupPoint(PickupPoint, kw_only=True):
    community_id: str


class ResidentView(msgspec.Struct, kw_only=True):
    """A registered resident (the phone number is kept, never shown)."""

    id: str
    community_id: str
    name: str
    building: str | None
    room: str | None = None
    grid_worker_id: str | None
    aliases: list[str] = []


class ListedResident(ResidentView, kw_only=True):
    """A resident as a grid worker's or host's list shows them, with the pinyin initials to search by."""

    initials: str  # 王玉香 -> wyx


def _check(name: str) -> None:
    if not name.strip():
        raise BadRequest("name must not be blank")


def _aliases(aliases: list[str]) -> list[str]:
    """Trimmed, blank ones refused, each once."""
    if any(not a.strip() for a in aliases):
        raise BadRequest("an alias must not be blank")
    return list(dict.fromkeys(a.strip() for a in aliases))


def _loaded(aliases: str | None) -> list[str]:
    return list(json.loads(aliases or "[]"))


async def add_pickup_point(engine: AsyncEngine, community_id: str, point: NewPickupPoint) -> PlacedPickupPoint:
    _check(point.name)
    await get_community(engine, community_id)
    try:
        async with engine.begin() as conn:
            await conn.execute(pickup_points.insert().values(
                id=point.id, community_id=community_id, name=point.name.strip(), address=point.address.strip(),
                kind=point.kind, lat=point.lat, lng=point.lng, hours=point.hours.strip(), capacity=point.capacity))
    except sa.exc.IntegrityError as exc:
        raise CommunityExists(f"pickup point {point.id} already exists") from exc
    return PlacedPickupPoint(id=point.id, community_id=community_id, name=point.name.strip(),
                             address=point.address.strip(), kind=point.kind, lat=point.lat, lng=point.lng,
                             hours=point.hours.strip(), capacity=point.capacity)


def point_view(row: Any) -> PickupPoint:
    """A pickup point as every answer shows it."""
    return PickupPoint(id=row.id, name=row.name, address=row.address, kind=row.kind, lat=row.lat, lng=row.lng,
                       hours=row.hours, capacity=row.capacity)


async def list_pickup_points(engine: AsyncEngine, community_id: str) -> list[dict[str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(pickup_points).where(pickup_points.c.community_id == community_id)
                                  .order_by(pickup_points.c.id))
        return [{"id": r.id, "name": r.name, "address": r.address} for r in rows]


async def pickup_point_views(engine: AsyncEngine, community_id: str) -> list[PickupPoint]:
    """The community's pickup points with kind, place, hours and capacity."""
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(pickup_points).where(pickup_points.c.community_id == community_id)
                                  .order_by(pickup_points.c.id))
        return [point_view(r) for r in rows]


async def pickup_point_in(engine: AsyncEngine, community_id: str, point_id: str) -> None:
    """NotFound unless the pickup point belongs to the community."""
    async with engine.connect() as conn:
        found = await conn.scalar(sa.select(pickup_points.c.id).where(
            pickup_points.c.id == point_id, pickup_points.c.community_id == community_id))
    if not found:
        raise NotFound(f"no pickup point {point_id} in this community", code="unknown_pickup_point")


async def add_resident(engine: AsyncEngine, community_id: str, person: NewResident) -> ResidentView:
    _check(person.name)
    aliases = _aliases(person.aliases)
    await get_community(engine, community_id)
    try:
        async with engine.begin() as conn:
            await conn.execute(residents.insert().values(
                id=person.id, community_id=community_id, name=person.name.strip(), phone=person.phone,
                building=person.building, room=person.room, grid_worker_id=person.grid_worker_id,
                aliases=json.dumps(aliases, ensure_ascii=False)))
    except sa.exc.IntegrityError as exc:
        raise CommunityExists(f"resident {person.id} already exists") from exc
    return ResidentView(id=person.id, community_id=community_id, name=person.name.strip(),
                        building=person.building, room=person.room, grid_worker_id=person.grid_worker_id,
                        aliases=aliases)


async def edit_resident(engine: AsyncEngine, community_id: str, resident_id: str, edit: ResidentEdit, *,
                        grid_worker_id: str | None = None) -> ResidentView:
    """Correct a resident's name, household or aliases: in the community, and (``grid_worker_id``) in
    that grid worker's grid. Someone else's resident answers as an unknown one does."""
    changes: dict[str, object] = {}
    if edit.name is not None:
        _check(edit.name)
        changes["name"] = edit.name.strip()
    for field in ("building", "room"):
        value = getattr(edit, field)
        if value is not None:
            changes[field] = value.strip() or None
    if edit.aliases is not None:
        changes["aliases"] = json.dumps(_aliases(edit.aliases), ensure_ascii=False)
    if not changes:
        raise BadRequest("give name, building, room and/or aliases to change")
    where = [residents.c.id == resident_id, residents.c.community_id == community_id]
    if grid_worker_id is not None:
        where.append(residents.c.grid_worker_id == grid_worker_id)
    async with engine.begin() as conn:
        done = await conn.execute(residents.update().where(*where).values(**changes))
        row = (await conn.execute(sa.select(residents).where(*where))).first()
    if not done.rowcount or row is None:
        raise NotFound(f"no resident {resident_id} in {'your grid' if grid_worker_id else 'this community'}",
                       code="unknown_resident")
    return ResidentView(id=row.id, community_id=row.community_id, name=row.name, building=row.building,
                        room=row.room, grid_worker_id=row.grid_worker_id, aliases=_loaded(row.aliases))


def initials(name: str) -> str:
    """Pinyin initials, as a grid worker types a name on a phone: 王玉香 -> wyx (other letters kept, lower case)."""
    return "".join(lazy_pinyin(name, style=Style.FIRST_LETTER, errors="default")).lower().replace(" ", "")


def _natural(text: str | None) -> tuple[int, str]:
    """Sort 3号楼 before 12号楼 and room 802 before 1205."""
    digits = _digits(text or "")
    return (int(digits) if digits else 1 << 62, text or "")


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _matches(query: str, r: ListedResident) -> bool:
    q = query.strip().lower()
    if not q:
        return True
    place = f"{r.building or ''}{r.room or ''}".lower()
    if q in r.name.lower() or q in place:
        return True
    if q.isascii() and q.isalpha():
        return q in r.initials
    # "3-1205", "3 1205" and "3号楼1205" name one household: compare their digits.
    return not q.strip("0123456789-# ") and bool(_digits(q)) and _digits(q) in _digits(place)


async def list_residents(engine: AsyncEngine, community_id: str, *, grid_worker_id: str | None = None,
                         query: str = "") -> list[ListedResident]:
    """The community's residents (only one grid worker's when given), matching ``query`` by name,
    building or room, or pinyin initials; by building, room and name."""
    select = sa.select(residents).where(residents.c.community_id == community_id)
    if grid_worker_id is not None:
        select = select.where(residents.c.grid_worker_id == grid_worker_id)
    async with engine.connect() as conn:
        rows = (await conn.execute(select)).all()
    listed = [ListedResident(id=r.id, community_id=r.community_id, name=r.name, building=r.building, room=r.room,
                             grid_worker_id=r.grid_worker_id, aliases=_loaded(r.aliases),
                             initials=initials(r.name)) for r in rows]
    listed.sort(key=lambda r: (_natural(r.building), _natural(r.room), r.initials, r.id))
    return [r for r in listed if _matches(query, r)]


async def residents_of(engine: AsyncEngine, community_id: str) -> list[dict[str, str | None]]:
    """Residents with the fields needed to match chain names and households (never sent to suppliers);
    ``aliases`` as the JSON list it is stored as."""
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(residents.c.id, residents.c.name, residents.c.building, residents.c.room,
                                            residents.c.grid_worker_id, residents.c.aliases)
                                  .where(residents.c.community_id == community_id).order_by(residents.c.id))
        return [{"id": r.id, "name": r.name, "building": r.building, "room": r.room,
                 "grid_worker_id": r.grid_worker_id, "aliases": r.aliases} for r in rows]


def masked(name: str) -> str:
    """A resident's name as her neighbours see it in the live room: 王玉香 -> 王*香, 王芳 -> 王*."""
    name = name.strip()
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


# Built once: a statement built per call leaves reference cycles (its bound parameters) that only a
# full collection frees, and a live room's join storm asks this thousands of times.
_NAMES = sa.select(residents.c.id, residents.c.name).where(residents.c.id.in_(sa.bindparam("ids", expanding=True)))


async def display_names(engine: AsyncEngine, user_ids: Collection[str]) -> dict[str, str]:
    """The masked name of each registered resident among ``user_ids`` (others are left out)."""
    wanted = sorted(set(user_ids))
    found: dict[str, str] = {}
    async with engine.connect() as conn:
        for start in range(0, len(wanted), 500):  # well under every database's bound-parameter limit
            rows = await conn.execute(_NAMES, {"ids": wanted[start:start + 500]})
            found.update((r.id, masked(r.name)) for r in rows)
    return found


async def grid_worker_of(engine: AsyncEngine, resident_id: str) -> tuple[str, str | None]:
    """(community, grid worker) of a resident; NotFound when unknown."""
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(residents.c.community_id, residents.c.grid_worker_id)
                                  .where(residents.c.id == resident_id))).first()
    if row is None:
        raise NotFound(f"no resident {resident_id}", code="unknown_resident")
    return row.community_id, row.grid_worker_id
