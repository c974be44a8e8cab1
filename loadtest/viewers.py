"""Viewers: residents who only watch the live room."""

from __future__ import annotations

from locust import between, task

from loadtest.room_user import RoomUser


class Viewer(RoomUser):
    """Watches: reads every event and pings now and then, as a phone on a mobile network does."""

    weight = 5
    wait_time = between(20, 30)

    @task
    def keep_alive(self) -> None:
        """Ping, as a phone's keep-alive does."""
        self.send({"type": "ping"})
