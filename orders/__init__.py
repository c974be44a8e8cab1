"""After the grab: durable orders from the outbox, reconciliation, and (later) pickups."""
