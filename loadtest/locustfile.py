"""Locust users for a live room: websocket viewers, grabbers and lucky-bag entrants, and one host.

This is the file locust loads; the users live in one module per kind (``loadtest/viewers.py``,
``grabbers.py``, ``lucky_bag_entrants.py``, ``hosts.py``) on the websocket client in
``room_user.py``, and ``live_setup.py`` holds the options, the scenarios and the session setup.

Every websocket answer is reported through locust's ``request`` event with request_type "WS",
so websocket latency sits beside HTTP in locust's stats, CSV and HTML report:

- ``join``: connect until the snapshot arrives;
- ``grab``: a grab frame until its ``grab_result`` (``ok: false`` is an answer, not a failure);
- ``enter_lucky_bag`` / ``enter_lucky_bag:comment``: the entry until ``lucky_bag_entered``;
- ``event_delay:<type>``: receipt time minus the broadcast event's server ``ts`` (same clock only
  when locust and the server share a machine, or their clocks are synchronised);
- ``disconnect:<code>`` and ``seq_gap`` failures, after which the user resyncs from a snapshot.

Run it with ``linli loadtest`` (which also checks the invariants), or by hand:
``LINLI_SECRET=... locust -f loadtest/locustfile.py --host http://127.0.0.1:8080 --scenario flash``.
Setup happens in ``test_start`` on the master (or the only process); workers receive the
session id with the master's custom options, so only the master needs ``--session-id`` when
reusing a session. LINLI_SECRET must be the server's secret on every locust process.
"""

from __future__ import annotations

import locust.stats

# Importing live_setup registers the options, the choice of users by scenario and the setup hook.
from loadtest import live_setup  # noqa: F401
from loadtest.grabbers import Grabber
from loadtest.hosts import Host
from loadtest.lucky_bag_entrants import LuckyBagEntrant
from loadtest.viewers import Viewer

# Locust picks up the user classes it finds in this module's namespace.
__all__ = ["Grabber", "Host", "LuckyBagEntrant", "Viewer"]

# Locust rewrites its CSV on this period and not at exit, so the CSV misses at most this much of the end.
locust.stats.CSV_STATS_INTERVAL_SEC = 0.5  # type: ignore[assignment] # locust sleeps this long: a float is fine
