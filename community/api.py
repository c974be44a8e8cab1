"""The community room's public face: what the app and other rooms may use."""

from community.accounts import (
    FundOverdrawn,
    NotEnoughPoints,
    credit_collection,
    fund_balance,
    points_balance,
    post_fund,
    post_points,
)
from community.audit import AuditEntry, actions_on, record_action
from community.errors import CommunityExists, CommunityNotFound
from community.notices import Channel, NewNotice, Notice, deliver, notify, record
from community.office_routes import routes as ledger_routes
from community.people import (
    NewPickupPoint,
    NewResident,
    add_pickup_point,
    add_resident,
    display_names,
    grid_worker_of,
    list_pickup_points,
    masked,
    pickup_point_in,
    pickup_point_views,
    residents_of,
)
from community.pickup_points import (
    BoundStaff,
    MyPickupPoint,
    NewBuilding,
    StaffBinding,
    bind_staff,
    default_point,
    default_points,
    distance_m,
    point_of,
    set_building,
    staff_point,
)
from community.registry import create_community, get_community
from community.rewards import NewReward, create_reward
from community.routes import routes as room_routes

__all__ = [
    "AuditEntry",
    "BoundStaff",
    "Channel",
    "CommunityExists",
    "CommunityNotFound",
    "FundOverdrawn",
    "MyPickupPoint",
    "NewBuilding",
    "NewNotice",
    "NewPickupPoint",
    "NewResident",
    "NewReward",
    "NotEnoughPoints",
    "Notice",
    "StaffBinding",
    "actions_on",
    "add_pickup_point",
    "add_resident",
    "bind_staff",
    "create_community",
    "create_reward",
    "credit_collection",
    "default_point",
    "default_points",
    "deliver",
    "display_names",
    "distance_m",
    "fund_balance",
    "get_community",
    "grid_worker_of",
    "list_pickup_points",
    "masked",
    "notify",
    "pickup_point_in",
    "pickup_point_views",
    "point_of",
    "points_balance",
    "post_fund",
    "post_points",
    "record",
    "record_action",
    "residents_of",
    "routes",
    "set_building",
    "staff_point",
]

# The room's routes: people and notices, then the ledgers (rates, points, rewards, the fund).
routes = [*room_routes, *ledger_routes]
