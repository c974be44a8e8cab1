"""Before the live: wish windows, 接龙 import, aggregation into supplier orders."""
