"""Where residents collect: buildings' coordinates, each resident's default pickup point, and the
staff bound to a point.

A resident's default point is the one she chose; else the point nearest her building by
great-circle distance (when both have coordinates); else the community's first point. Other
rooms ask ``default_points`` (the orders room places every order due for collection with it).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from community.people import Latitude, Longitude, PickupPoint, point_view
from community.registry import get_community
from infra.errors import NotFound
from infra.tables import buildings, pickup_points, pickup_staff, residents
from infra.types import Id

EARTH_RADIUS_M = 6_371_000


class NewBuilding(msgspec.Struct, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="as residents' building reads: 3号楼")]
    lat: Latitude
    lng: Longitude


class Building(msgspec.Struct, kw_only=True):
    community_id: str
    name: str
    lat: float
    lng: float


class StaffBinding(msgspec.Struct, kw_only=True):
    user_id: Id
    pickup_point_id: Id


class BoundStaff(msgspec.Struct, kw_only=True):
    user_id: str
    community_id: str
    pickup_point_id: str


class PointChoice(msgspec.Struct, kw_only=True):
    pickup_point_id: Annotated[Id, msgspec.Meta(description="null forgets the choice: the nearest point again")] | None


class MyPickupPoint(msgspec.Struct, kw_only=True):
    pickup_point: PickupPoint | None  # None: the community has no point yet
    chosen: bool  # she chose it (else the nearest, or the first)


def _insert(conn: AsyncConnection) -> Any:
    return (sqlite if conn.dialect.name == "sqlite" else postgresql).insert


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


async def set_building(engine: AsyncEngine, community_id: str, building: NewBuilding) -> Building:
    """Add or move a building's coordinates."""
    await get_community(engine, community_id)
    name = building.name.strip()
    async with engine.begin() as conn:
        await conn.execute(_insert(conn)(buildings).values(
            community_id=community_id, name=name, lat=building.lat, lng=building.lng,
        ).on_conflict_do_update(index_elements=["community_id", "name"],
                                set_={"lat": building.lat, "lng": building.lng}))
    return Building(community_id=community_id, name=name, lat=building.lat, lng=building.lng)


async def _point_in(conn: AsyncConnection, community_id: str, point_id: str) -> Any:
    row = (await conn.execute(sa.select(pickup_points).where(
        pickup_points.c.id == point_id, pickup_points.c.community_id == community_id))).first()
    if row is None:
        raise NotFound(f"no pickup point {point_id} in this community", code="unknown_pickup_point")
    return row


async def default_points(conn: AsyncConnection, user_ids: Collection[str]) -> dict[str, str]:
    """Each registered resident's default pickup point id (those of a community without points are left out)."""
    wanted = sorted(set(user_ids))
    people: list[Any] = []
    for start in range(0, len(wanted), 500):
        people += (await conn.execute(sa.select(residents.c.id, residents.c.community_id, residents.c.building,
                                                residents.c.pickup_point_id)
                                      .where(residents.c.id.in_(wanted[start:start + 500])))).all()
    found: dict[str, str] = {}
    points_of: dict[str, list[Any]] = {}
    places: dict[str, dict[str, tuple[float, float]]] = {}
    for person in people:
        cid = person.community_id
        if cid not in points_of:
            points_of[cid] = list(await conn.execute(sa.select(pickup_points).where(pickup_points.c.community_id == cid)
                                                      .order_by(pickup_points.c.id)))
            places[cid] = {b.name: (b.lat, b.lng) for b in await conn.execute(
                sa.select(buildings).where(buildings.c.community_id == cid))}
        points = points_of[cid]
        if not points:
            continue
        if person.pickup_point_id and any(p.id == person.pickup_point_id for p in points):
            found[person.id] = person.pickup_point_id
            continue
        home = places[cid].get((person.building or "").strip())
        located = [p for p in points if p.lat is not None and p.lng is not None]
        if home and located:
            found[person.id] = min(located, key=lambda p: (distance_m(home[0], home[1], p.lat, p.lng), p.id)).id
        else:
            found[person.id] = points[0].id
    return found


async def default_point(engine: AsyncEngine, user_id: str) -> MyPickupPoint:
    """A resident's default pickup point, and whether she chose it; NotFound for an unregistered resident."""
    async with engine.connect() as conn:
        person = (await conn.execute(sa.select(residents.c.community_id, residents.c.pickup_point_id)
                                     .where(residents.c.id == user_id))).first()
        if person is None:
            raise NotFound(f"no resident {user_id}", code="unknown_resident")
        point_id = (await default_points(conn, [user_id])).get(user_id)
        row = (await conn.execute(sa.select(pickup_points).where(pickup_points.c.id == point_id))).first() \
            if point_id else None
    return MyPickupPoint(pickup_point=point_view(row) if row else None,
                         chosen=bool(row and row.id == person.pickup_point_id))


async def choose_point(engine: AsyncEngine, user_id: str, point_id: str | None) -> MyPickupPoint:
    """Set (or with None forget) a resident's chosen point; a point of another community is 404."""
    async with engine.begin() as conn:
        community = await conn.scalar(sa.select(residents.c.community_id).where(residents.c.id == user_id))
        if community is None:
            raise NotFound(f"no resident {user_id}", code="unknown_resident")
        if point_id is not None:
            await _point_in(conn, community, point_id)
        await conn.execute(residents.update().where(residents.c.id == user_id).values(pickup_point_id=point_id))
    return await default_point(engine, user_id)


async def bind_staff(engine: AsyncEngine, community_id: str, binding: StaffBinding, *, added_by: str) -> BoundStaff:
    """Bind a pickup staff member to one point of the community; binding again moves her."""
    async with engine.begin() as conn:
        await _point_in(conn, community_id, binding.pickup_point_id)
        values = {"community_id": community_id, "pickup_point_id": binding.pickup_point_id, "added_by": added_by,
                  "added_at": datetime.now(UTC)}
        await conn.execute(_insert(conn)(pickup_staff).values(user_id=binding.user_id, **values)
                           .on_conflict_do_update(index_elements=["user_id"], set_=values))
    return BoundStaff(user_id=binding.user_id, community_id=community_id, pickup_point_id=binding.pickup_point_id)


async def staff_point(engine: AsyncEngine, user_id: str) -> tuple[str, PickupPoint] | None:
    """(community, point) a pickup staff member is bound to; None when she is bound nowhere."""
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(pickup_staff.c.community_id, pickup_points)
                                  .join(pickup_points, pickup_points.c.id == pickup_staff.c.pickup_point_id)
                                  .where(pickup_staff.c.user_id == user_id))).first()
    return None if row is None else (row.community_id, point_view(row))


async def point_of(engine: AsyncEngine, point_id: str) -> tuple[str, PickupPoint]:
    """(community, point) of a pickup point id; NotFound when there is none."""
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(pickup_points).where(pickup_points.c.id == point_id))).first()
    if row is None:
        raise NotFound(f"no pickup point {point_id}", code="unknown_pickup_point")
    return row.community_id, point_view(row)
