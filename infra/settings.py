"""Settings, built from the environment once in ``main()``; tests build them directly."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a linli process needs to know about its surroundings."""

    data_dir: Path = Path("var")
    # None means: supervise a private Redis server under data_dir/redis.
    redis_url: str | None = None
    redis_port: int = 0  # 0 picks a free port for the embedded server
    redis_appendfsync: str = "everysec"
    # None means: SQLite file under data_dir.
    database_url: str | None = None
    secret: str | None = None  # None means: read or create data_dir/secret
    host: str = "127.0.0.1"
    port: int = 8080
    demo: bool = False
    grab_rate: float = 5.0  # grabs per second per connection (burst twice that); raised for benchmarks
    worker_batch: int = 500
    worker_claim_idle_ms: int = 30_000
    scheduler_lease_ms: int = 15_000  # one scheduler runs the jobs; a standby takes over this long after it dies
    hold_warning_min: int = 10  # residents are reminded of an unconfirmed hold this long before its release
    max_connections_per_user: int = 5  # open websockets of one user in one session (0: no cap)
    keepalive_s: float = 30.0  # a ping to every viewer this often; a viewer silent for a whole period is dropped
    rate_limits: tuple[tuple[str, str], ...] = ()  # (rule, limit) overrides of infra.ratelimit.RULES
    limit_exempt: str = "127.0.0.0/8,::1"  # addresses the per-address limits skip
    metrics_allow: str = "127.0.0.0/8,::1"  # addresses that may read /metrics without a token
    metrics_port: int = 0  # `linli worker` and `linli scheduler` serve /metrics on it (0: they do not)
    wait_aof: bool = False  # acknowledge a grab only once the AOF holding it is on disk (WAITAOF)
    wait_replicas: int = 0  # acknowledge a grab only once this many replicas have it (WAIT); 0: do not wait
    ingest: bool = True  # `linli serve` supervises the RTMP ingest (nginx) when nginx is installed
    rtmp_port: int = 1935
    rtmp_url: str | None = None  # what hosts type into OBS; None: rtmp://<the console's host>:<rtmp_port>/live

    @property
    def sql_url(self) -> str:
        """The SQLAlchemy async URL of the system of record."""
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite+aiosqlite:///{(self.data_dir / 'linli.db').resolve()}"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, /, **overrides: object) -> Settings:
        """Read LINLI_* / REDIS_URL / DATABASE_URL; explicit overrides win."""
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {
            "data_dir": Path(env.get("LINLI_DATA", "var")),
            "redis_url": env.get("REDIS_URL") or None,
            "redis_port": int(env.get("LINLI_REDIS_PORT", "0")),
            "redis_appendfsync": env.get("LINLI_REDIS_APPENDFSYNC", "everysec"),
            "database_url": env.get("DATABASE_URL") or None,
            "secret": env.get("LINLI_SECRET") or None,
            "host": env.get("LINLI_HOST", "127.0.0.1"),
            "port": int(env.get("PORT", env.get("LINLI_PORT", "8080"))),
            "grab_rate": float(env.get("LINLI_GRAB_RATE", "5")),
            "worker_claim_idle_ms": int(env.get("LINLI_WORKER_CLAIM_IDLE_MS", "30000")),
            "scheduler_lease_ms": int(env.get("LINLI_SCHEDULER_LEASE_MS", "15000")),
            "hold_warning_min": int(env.get("LINLI_HOLD_WARNING_MIN", "10")),
            "max_connections_per_user": int(env.get("LINLI_MAX_CONNECTIONS_PER_USER", "5")),
            "keepalive_s": float(env.get("LINLI_KEEPALIVE_S", "30")),
            "rate_limits": tuple(sorted(
                (name.removeprefix("LINLI_LIMIT_").lower().replace("_user", ".user").replace("_address", ".address"),
                 value)
                for name, value in env.items() if name.startswith("LINLI_LIMIT_") and name != "LINLI_LIMIT_EXEMPT")),
            "limit_exempt": env.get("LINLI_LIMIT_EXEMPT", "127.0.0.0/8,::1"),
            "metrics_allow": env.get("LINLI_METRICS_ALLOW", "127.0.0.0/8,::1"),
            "metrics_port": int(env.get("LINLI_METRICS_PORT", "0")),
            "wait_aof": env.get("LINLI_WAITAOF", "").lower() in {"1", "true", "yes", "on"},
            "wait_replicas": int(env.get("LINLI_WAIT_REPLICAS", "0") or 0),
            "ingest": env.get("LINLI_INGEST", "on").lower() not in {"0", "false", "no", "off"},
            "rtmp_port": int(env.get("LINLI_RTMP_PORT", "1935")),
            "rtmp_url": env.get("LINLI_RTMP_URL") or None,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def normalize_database_url(url: str) -> str:
    """Accept the usual postgres:// and sqlite:// spellings and pick the async driver."""
    for plain, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite:///", "sqlite+aiosqlite:///"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain):]
    return url
