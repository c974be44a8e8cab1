"""Every metric a linli process exports (prometheus-client), defined once, and the calls that move them.

The metrics are built on first use, not at import: prometheus-client picks its storage (memory, or
files shared by several processes) when the first metric is made, from ``PROMETHEUS_MULTIPROC_DIR``,
so importing this module must not fix that choice before ``prepare_multiprocess_dir`` has run in a
parent that starts several web processes. Label values are bounded here: a reason or a place the
code does not know is counted as ``other``, so no input can grow the number of series.

docs/operations.md (Metrics) says what each metric means and what to alert on.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import Counter, Gauge, Histogram

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# A grab's result: ok, repeated (a request id seen before: its first answer again), the reserve
# script's reasons, and the refusals before it (tests/test_metrics.py holds this list to the code).
GRAB_RESULTS = ("ok", "repeated", "sold_out", "not_enough", "limit", "not_on_sale", "unknown_item", "bad_qty",
                "not_your_resident", "rate_limited", "forbidden", "unavailable", "internal")
# Where a store failed: an HTTP request, a live room's frame or socket, the fan-out's pub/sub, the
# viewer count reports, the outbox worker, the scheduler's jobs.
STORE_ERROR_PLACES = ("http", "live", "pubsub", "viewers", "worker", "scheduler")
OTHER = "other"


@dataclass(frozen=True, slots=True)
class Metrics:
    grabs: Counter
    grabs_by_result: dict[str, Counter]  # each result's child, made once: labels() costs more than inc()
    grab_seconds: Histogram
    viewers: Gauge
    fanout_delay: Histogram
    slow_cuts: Counter
    outbox_pending: Gauge
    outbox_lag: Gauge
    outbox_written: Counter
    cutoff_seconds: Histogram
    redis_errors: Counter
    sql_errors: Counter


@cache
def registered() -> Metrics:
    """The process's metrics, made on first use (in the default registry of prometheus-client)."""
    from prometheus_client import Counter, Gauge, Histogram

    grabs = Counter("linli_grabs", "Grabs answered, by result: ok, repeated, or the refusal's reason code",
                    ["result"])
    made = Metrics(
        grabs=grabs,
        # Known label values start at 0, so rate() and alerts see a series before its first event.
        grabs_by_result={result: grabs.labels(result) for result in (*GRAB_RESULTS, OTHER)},
        grab_seconds=Histogram("linli_grab_seconds", "A grab frame from its arrival to its result handed to the "
                               "resident's socket, in seconds",
                               buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5)),
        # livesum: on a host running several web processes, the sum over the ones alive.
        viewers=Gauge("linli_viewers", "Live-room websockets open in this process (several web processes "
                      "sharing a metrics folder: their sum)", multiprocess_mode="livesum"),
        fanout_delay=Histogram("linli_fanout_delay_seconds", "A broadcast event from its publication in Redis "
                               "to its hand-over to this process's viewers, in seconds",
                               buckets=(.001, .0025, .005, .01, .025, .05, .1, .15, .25, .5, 1, 2.5, 5)),
        slow_cuts=Counter("linli_slow_viewer_cuts", "Viewers closed because their send queue overflowed "
                          "(they reconnect and resync)"),
        # livemax: every worker measures the same outboxes, so the largest of the living is the answer.
        outbox_pending=Gauge("linli_outbox_pending_entries", "Outbox entries not yet written to SQL, over "
                             "every session (measured by the outbox worker)", multiprocess_mode="livemax"),
        outbox_lag=Gauge("linli_outbox_lag_seconds", "Age of the oldest outbox entry not yet written to SQL "
                         "(0 when none; measured by the outbox worker)", multiprocess_mode="livemax"),
        outbox_written=Counter("linli_outbox_written_entries", "Outbox entries written to SQL and acknowledged "
                               "(its rate is the worker's drain rate)"),
        cutoff_seconds=Histogram("linli_cutoff_seconds", "A wish window's cutoff (aggregation, supplier "
                                 "orders, holds), in seconds",
                                 buckets=(.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)),
        redis_errors=Counter("linli_redis_errors", "Redis calls that failed (no answer, a lost connection), "
                             "by where", ["where"]),
        sql_errors=Counter("linli_sql_errors", "SQL calls that failed (no answer, a lost connection), by where",
                           ["where"]),
    )
    for where in STORE_ERROR_PLACES:
        made.redis_errors.labels(where)
        made.sql_errors.labels(where)
    return made


def grab_answered(result: str | None, started: float | None = None) -> None:
    """Count a grab's answer (None or "ok": taken); with ``started`` (time.perf_counter()), time it too."""
    m = registered()
    by_result = m.grabs_by_result
    (by_result.get(result or "ok") or by_result[OTHER]).inc()
    if started is not None:
        m.grab_seconds.observe(time.perf_counter() - started)


def viewer_joined() -> None:
    """A live-room websocket joined this process's hub."""
    registered().viewers.inc()


def viewer_left() -> None:
    """A live-room websocket left this process's hub."""
    registered().viewers.dec()


def viewer_cut() -> None:
    """A viewer fell too far behind and is being closed."""
    registered().slow_cuts.inc()


def event_handed_over(published_ms: int) -> None:
    """A broadcast event published at ``published_ms`` (Redis's clock) reached this process's viewers now."""
    registered().fanout_delay.observe(max(0.0, time.time() - published_ms / 1000))


def outbox_backlog(entries: int, oldest_age_s: float) -> None:
    """What the outbox worker last measured: entries not yet in SQL and the age of the oldest."""
    m = registered()
    m.outbox_pending.set(entries)
    m.outbox_lag.set(oldest_age_s)


def outbox_written(entries: int) -> None:
    """Entries the worker wrote to SQL and acknowledged."""
    registered().outbox_written.inc(entries)


def cutoff_took(seconds: float) -> None:
    """One wish window's cutoff ran for ``seconds``."""
    registered().cutoff_seconds.observe(seconds)


def store_error(exc: BaseException, where: str) -> None:
    """Count a failed Redis or SQL call at ``where`` (one of STORE_ERROR_PLACES); other errors are not counted."""
    store = store_of(exc)
    if store is not None:
        m = registered()
        counter = m.redis_errors if store == "redis" else m.sql_errors
        counter.labels(_bounded(where, STORE_ERROR_PLACES)).inc()


def store_of(exc: BaseException) -> str | None:
    """"redis", "sql" or None: the store an exception came from, by its type, else by where it was raised
    (a refused connection is a plain OSError from either client)."""
    for seen in _chain(exc):
        module = type(seen).__module__.split(".")[0]
        if module in ("redis", "valkey"):
            return "redis"
        if module in ("sqlalchemy", "asyncpg", "aiosqlite", "sqlite3"):
            return "sql"
    tb: TracebackType | None = exc.__traceback__
    last = None
    while tb is not None:  # the innermost frame of a client library names the store
        name = tb.tb_frame.f_globals.get("__name__", "").split(".")[0]
        if name in ("redis", "valkey", "sqlalchemy", "asyncpg", "aiosqlite"):
            last = "redis" if name in ("redis", "valkey") else "sql"
        tb = tb.tb_next
    return last


def _chain(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in found and len(found) < 10:
        found.append(seen)
        seen = seen.__cause__ or seen.__context__
    return found


def _bounded(value: str, known: tuple[str, ...]) -> str:
    return value if value in known else OTHER


def exposition() -> tuple[bytes, str]:
    """The text a scrape gets and its content type: this process's metrics, or with ``PROMETHEUS_MULTIPROC_DIR``
    the sum over every process writing to that folder."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

    registered()  # a process that has counted nothing yet still shows every metric
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def prepare_multiprocess_dir(path: Path) -> Path:
    """Make ``path`` the empty folder where several processes of this host keep their metrics, and name it in
    ``PROMETHEUS_MULTIPROC_DIR`` for the processes started after; call it in the parent before they start."""
    path = path.resolve()
    if path.exists():
        shutil.rmtree(path)  # a previous run's files would add its counts to this one's
    path.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(path)
    values = sys.modules.get("prometheus_client.values")
    if values is not None and values.ValueClass is values.MutexValue:
        # prometheus-client was imported before the folder was named: a metric made now (here, or in a
        # child forked from here) must still go to the folder, so it chooses its storage again.
        if registered.cache_info().currsize:
            raise RuntimeError("metrics were made before the multiprocess folder was set; "
                               "call prepare_multiprocess_dir before serving or counting anything")
        values.ValueClass = values.get_value_class()  # type: ignore[attr-defined]
    return path


def process_exited(pid: int) -> None:
    """Tell the shared metrics folder that a web process is gone, so its live gauges (viewers) stop counting."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
