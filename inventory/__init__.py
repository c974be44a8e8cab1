"""The truth about stock, in Redis: Lua scripts, reservations, limits, the order outbox."""

from inventory.errors import InvalidInput, InventoryError, UnknownItem, UnknownOrder
from inventory.stock import Inventory, ItemStock, Reservation

__all__ = [
    "Inventory", "ItemStock", "Reservation",
    "InventoryError", "InvalidInput", "UnknownItem", "UnknownOrder",
]
