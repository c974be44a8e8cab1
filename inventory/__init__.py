"""The truth about stock, in Redis: Lua scripts, reservations, limits, the order outbox.

This is inventory's public face: other rooms import these names and nothing else from inventory.
"""

from inventory import outbox
from inventory.batcher import AofNotSynced, DurabilityUnavailable, ScriptBatcher
from inventory.errors import InvalidInput, InventoryError, OverRateLimit, UnknownItem, UnknownOrder
from inventory.keys import item as item_stock_key
from inventory.stock import MAX_QTY, Inventory, ItemStock, RateCell, Reservation

__all__ = [
    "MAX_QTY",
    "AofNotSynced",
    "DurabilityUnavailable",
    "InvalidInput",
    "Inventory",
    "InventoryError",
    "ItemStock",
    "OverRateLimit",
    "RateCell",
    "Reservation",
    "ScriptBatcher",
    "UnknownItem",
    "UnknownOrder",
    "item_stock_key",
    "outbox",
]
