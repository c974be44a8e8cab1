"""The ``linli`` command line."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable

import click
import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from infra.auth import (
    MAX_TTL_S,
    PRIVILEGED_ROLES,
    PRIVILEGED_TTL_S,
    ROLES,
    AuthError,
    issue_token,
    load_secret,
    verify_token,
)
from infra.db import migrate_sync
from infra.http import MalformedRequestLines
from infra.metrics_http import serving_metrics
from infra.resources import Resources, open_resources, redis_client
from infra.settings import Settings
from linli.accesslog import RedactingAccessLogger
from linli.app import create_app


def _settings(**overrides: object) -> Settings:
    return Settings.from_env(**overrides)


def _logging(*, with_pid: bool = False) -> None:
    pid = " [%(process)d]" if with_pid else ""
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s{pid} %(levelname)s %(name)s: %(message)s")
    # The scheduler logs every run of every job at INFO (the crowdfund sync runs every 5 s); its
    # warnings and errors are what an operator needs.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.server").addFilter(MalformedRequestLines())


# A room's viewers come back all at once after a blip: with aiohttp's default of 128 waiting
# connections, a 10,000-viewer room overflowed the accept queue while joins were busy, and the
# kernel reset the handshakes that waited too long (seen in `linli bench fanout` on a loaded machine).
ACCEPT_BACKLOG = 2048


def _tune_gc() -> None:
    # Thousands of long-lived sockets make every full collection walk a large heap, which
    # showed as stalls in grab latency; collect young objects less often instead.
    import gc

    gc.set_threshold(50_000, 50, 100)


def _use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - not on every platform
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _need_shared_redis(settings: Settings, what: str) -> None:
    # Separate processes must share one Redis; a private server per process would split the truth.
    if not settings.redis_url:
        raise click.UsageError(f"`linli {what}` needs REDIS_URL; on one machine, `linli serve` runs everything")


def _run_until_signal(settings: Settings, body: Callable[[Resources, asyncio.Event], Awaitable[None]]) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with open_resources(settings) as res, serving_metrics(res):
            await body(res, stop)

    _use_uvloop()
    asyncio.run(main())


@click.group()
def main() -> None:
    """linli (邻里): live sales and demand crowdfunding for residential communities."""


@main.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1, or LINLI_HOST).")
@click.option("--port", type=int, default=None, help="Port (default 8080, or PORT).")
@click.option("--demo", is_flag=True, help="Seed a demo community, session and users.")
def serve(host: str | None, port: int | None, demo: bool) -> None:
    """Web, worker and scheduler in one process, on the embedded defaults unless configured."""
    _logging()
    settings = _settings(host=host, port=port, demo=demo)
    app = create_app(settings, worker=True, scheduler=True, run_migrations=True, ingest=True)
    _use_uvloop()
    _tune_gc()
    web.run_app(app, host=settings.host, port=settings.port, shutdown_timeout=5, backlog=ACCEPT_BACKLOG,
                access_log_class=RedactingAccessLogger,
                print=lambda *_: click.echo(f"linli serving on http://{settings.host}:{settings.port}"))


@main.command("web")
@click.option("--workers", default="1", envvar="LINLI_WEB_WORKERS", show_default=True,
              help="Web processes sharing the port, supervised by this one ('auto': one per usable core).")
@click.option("--reuse-port", is_flag=True,
              help="Bind with SO_REUSEPORT, so several `linli web` share one port (what --workers does).")
def web_cmd(workers: str, reuse_port: bool) -> None:
    """Web processes (HTTP API, websockets, pages); run many behind a load balancer, or --workers N here."""
    from linli.web_workers import SUPERVISOR_ENV, die_with_supervisor, parse_workers, supervise

    try:
        count = parse_workers(workers)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--workers") from exc
    settings = _settings()
    _need_shared_redis(settings, "web")
    # Several processes' lines interleave on one terminal: each line names its process.
    _logging(with_pid=count > 1 or bool(os.environ.get(SUPERVISOR_ENV)))
    if count > 1:
        sys.exit(supervise(count, settings.host, settings.port, settings.data_dir))
    die_with_supervisor()
    _use_uvloop()
    _tune_gc()
    web.run_app(create_app(settings), host=settings.host, port=settings.port, shutdown_timeout=5,
                backlog=ACCEPT_BACKLOG, access_log_class=RedactingAccessLogger, reuse_port=reuse_port or None)


@main.command()
def worker() -> None:
    """Drain the order outboxes into SQL."""
    from orders.api import OutboxWorker

    _logging()
    settings = _settings()
    _need_shared_redis(settings, "worker")

    async def body(res: Resources, stop: asyncio.Event) -> None:
        await OutboxWorker(res.redis, res.engine, batch=settings.worker_batch,
                           claim_idle_ms=settings.worker_claim_idle_ms, wait_replicas=settings.wait_replicas).run(stop)

    _run_until_signal(settings, body)


@main.command()
def scheduler() -> None:
    """Run timed jobs: wish-window cutoffs, hold releases, reconciliation."""
    from linli.scheduler import running_scheduler

    _logging()
    settings = _settings()
    _need_shared_redis(settings, "scheduler")

    async def body(res: Resources, stop: asyncio.Event) -> None:
        async with running_scheduler(res):
            await stop.wait()

    _run_until_signal(settings, body)


@main.command()
def migrate() -> None:
    """Create or upgrade the SQL schema."""
    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate_sync(settings.sql_url)
    click.echo("schema is up to date")


@main.group(invoke_without_command=True)
@click.option("--role", type=click.Choice(ROLES), help="resident, host, grid, pickup, supplier; admin (of one "
              "community, needs --community) or operator (of the platform, no community).")
@click.option("--user", "users", multiple=True, help="User id; repeat for several tokens.")
@click.option("--community", default=None, help="Community the token acts in.")
@click.option("--ttl", type=click.IntRange(1, MAX_TTL_S), default=None,
              help=f"Seconds until expiry (default 7 days; {PRIVILEGED_TTL_S // 3600} hours for "
                   f"{', '.join(PRIVILEGED_ROLES)}).")
@click.pass_context
def token(ctx: click.Context, role: str | None, users: tuple[str, ...], community: str | None,
          ttl: int | None) -> None:
    """Print one signed bearer token per --user, one per line, in order (each token's id on stderr);
    `linli token revoke` denies tokens."""
    if ctx.invoked_subcommand:
        if role or users or community or ttl:
            raise click.UsageError(f"options of `linli token` do not go with `{ctx.invoked_subcommand}`")
        return
    if not role or not users:
        raise click.UsageError("give --role and at least one --user")
    settings = _settings()
    try:
        secret = load_secret(settings.data_dir, settings.secret)
        for user in users:
            issued = issue_token(secret, user_id=user, role=role, community_id=community, ttl_s=ttl)
            click.echo(issued)
            claims = verify_token(secret, issued)
            click.echo(f"token of {user}: jti {claims.token_id}, expires {_utc(claims.expires_at)}", err=True)
    except AuthError as exc:
        raise click.UsageError(str(exc)) from exc


def _utc(epoch_s: int) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(epoch_s, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@token.command("revoke")
@click.option("--jti", default=None, help="Deny one token (its id: printed by `linli token`, claim jti).")
@click.option("--user", default=None, help="Deny every token of this user issued until now.")
def token_revoke(jti: str | None, user: str | None) -> None:
    """Deny tokens in Redis: every web process refuses them from the next request on."""
    from infra.revocation import revoke_token, revoke_user

    if (jti is None) == (user is None):
        raise click.UsageError("give one of --jti and --user")
    settings = _settings()

    async def body(redis: aioredis.Redis) -> str:
        if jti is not None:
            await revoke_token(redis, jti)
            return f"revoked token {jti}"
        assert user is not None
        until = await revoke_user(redis, user)
        return f"revoked every token of {user} issued until {_utc(until)}"

    try:
        click.echo(asyncio.run(_with_redis(settings, body)))
    except AuthError as exc:
        raise click.UsageError(str(exc)) from exc


async def _with_redis(settings: Settings, body: Callable[[aioredis.Redis], Awaitable[str]]) -> str:
    """Run ``body`` against the Redis the web processes use: REDIS_URL, else the embedded server of
    the data folder (the running one when `linli serve` is up, else started for the moment)."""
    from infra.redis_server import EmbeddedRedis

    port_file = settings.data_dir / "redis" / "port"
    url = settings.redis_url or (f"redis://127.0.0.1:{port_file.read_text().strip()}/0" if port_file.exists() else "")
    client = await _answering(url) if url else None
    if client is None and settings.redis_url:
        raise click.ClickException("Redis at REDIS_URL does not answer")
    if client is not None:
        try:
            return await body(client)
        finally:
            await client.aclose()
    embedded = EmbeddedRedis(settings.data_dir, appendfsync=settings.redis_appendfsync)
    client = redis_client(await embedded.start())
    try:
        return await body(client)
    finally:
        await client.aclose()
        await embedded.stop()


async def _answering(url: str) -> aioredis.Redis | None:
    client = redis_client(url)
    try:
        await client.ping()
    except (OSError, ValueError, RedisError):
        await client.aclose()
        return None
    return client


@main.group()
def bench() -> None:
    """Benchmarks that print figures next to a baseline measured in the same run."""


@bench.command("reserve")
@click.option("--seconds", type=float, default=5.0, show_default=True)
@click.option("--concurrency", type=int, default=50, show_default=True)
@click.option("--runs", type=int, default=3, show_default=True)
@click.option("--cluster", is_flag=True, help="one server beside a local 3-primary Redis Cluster, sessions spread")
def bench_reserve(seconds: float, concurrency: int, runs: int, cluster: bool) -> None:
    """Reserves/s through inventory.reserve next to raw redis-benchmark EVALSHA (or, with --cluster, on
    one server next to a Redis Cluster of 3 primaries)."""
    if cluster:
        from bench.reserve_cluster import run as run_cluster

        sys.exit(run_cluster(seconds=seconds, concurrency=concurrency, runs=runs))
    from bench.reserve import run

    sys.exit(run(seconds=seconds, concurrency=concurrency, runs=runs))


@bench.command("grab")
@click.option("--grabbers", type=int, default=2000, show_default=True)
@click.option("--seconds", type=float, default=5.0, show_default=True)
@click.option("--runs", type=int, default=3, show_default=True)
@click.option("--web", default="1,2,4", show_default=True, help="Comma-separated numbers of web processes.")
@click.option("--think", type=float, default=1.0, show_default=True,
              help="Mean pause between a paced grabber's taps (0: closed loop only).")
@click.option("--cluster", is_flag=True,
              help="Also on a local Redis Cluster of 3 primaries, three sessions spread over them (and over "
                   "three sessions on one Redis beside it).")
def bench_grab(grabbers: int, seconds: float, runs: int, web: str, think: float, cluster: bool) -> None:
    """Websocket grabs/s, p99 and CPU per grab through 1, 2, 4 web processes, beside the reserve
    script's baselines."""
    import uvloop

    from bench.grab import grab

    uvloop.run(grab(runs, grabbers, seconds, think, tuple(int(n) for n in web.split(",")), cluster))


@bench.command("fanout")
@click.option("--viewers", default="1000,5000,10000", show_default=True, help="Comma-separated crowd sizes.")
@click.option("--runs", type=int, default=3, show_default=True)
@click.option("--web", default="1", show_default=True,
              help="Comma-separated numbers of web processes to spread each room's viewers over.")
def bench_fanout(viewers: str, runs: int, web: str) -> None:
    """Flash start to the last viewer's receipt, and memory per idle viewer, on 1 or more web processes."""
    import uvloop

    from bench.fanout import fanout

    uvloop.run(fanout(runs, [int(v) for v in viewers.split(",")], [int(n) for n in web.split(",")]))


@bench.command("peers")
@click.option("--viewers", default="1000,5000,10000", show_default=True, help="Comma-separated crowd sizes.")
@click.option("--runs", type=int, default=1, show_default=True)
def bench_peers(viewers: str, runs: int) -> None:
    """linli's fan-out beside a websockets broadcast(), a plain aiohttp loop and python-socketio."""
    import uvloop

    from bench.peers import peers

    uvloop.run(peers(runs, [int(v) for v in viewers.split(",")]))


@bench.command("resume")
@click.option("--viewers", type=int, default=10_000, show_default=True)
@click.option("--blip", type=int, default=40, show_default=True, help="Events published while they were away.")
@click.option("--runs", type=int, default=3, show_default=True)
def bench_resume(viewers: int, blip: int, runs: int) -> None:
    """Bytes and CPU of every viewer resuming after a blip, beside every viewer taking a snapshot."""
    import uvloop

    from bench.resume import main as resume_main

    uvloop.run(resume_main(runs, viewers, blip))


@bench.command("aggregate")
@click.option("--runs", type=int, default=3, show_default=True)
def bench_aggregate(runs: int) -> None:
    """50,000 residents x 10 wish lines into supplier orders, next to a bare SQL GROUP BY."""
    from bench.aggregate import main as aggregate_main

    asyncio.run(aggregate_main(runs))


@bench.command("outbox")
@click.option("--runs", type=int, default=3, show_default=True)
def bench_outbox(runs: int) -> None:
    """Orders/s drained into SQLite (and PostgreSQL when LINLI_BENCH_PG is set), next to bare INSERTs."""
    from bench.outbox import main as outbox_main

    asyncio.run(outbox_main(runs))


@bench.command("video")
@click.option("--runs", type=int, default=3, show_default=True)
@click.option("--seconds", type=float, default=20.0, show_default=True, help="Frames read per run, in seconds.")
def bench_video(runs: int, seconds: float) -> None:
    """Camera to screen: a stamped test stream through the RTMP ingest, read back in Chromium's live room."""
    from bench.video import main as video_main

    sys.exit(video_main(runs, seconds))


@main.command()
@click.option("--url", default=None, help="A running linli (its LINLI_SECRET in the env); default: start one.")
@click.option("--users", type=int, required=True, help="Concurrent locust users.")
@click.option("--spawn-rate", type=float, required=True, help="Users started per second.")
@click.option("--run-time", required=True, help="How long, as locust takes it: 60s, 2m, 1h30m.")
@click.option("--scenario", required=True, type=click.Choice(["flash", "luckybag", "mixed"]))
@click.option("--stock", type=int, default=100, show_default=True, help="Units per item.")
@click.option("--report-dir", type=click.Path(file_okay=False), default=None,
              help="Locust CSV/HTML and run files (default var/loadtest/<UTC time>).")
@click.option("--processes", type=int, default=None, help="Locust worker processes (-1: one per core).")
def loadtest(url: str | None, users: int, spawn_rate: float, run_time: str, scenario: str, stock: int,
             report_dir: str | None, processes: int | None) -> None:
    """Drive a live room with locust, then check that nothing was oversold or lost."""
    import time
    from pathlib import Path

    from loadtest.runner import LoadTest, run

    folder = Path(report_dir) if report_dir else Path("var", "loadtest", time.strftime("%Y%m%d-%H%M%S", time.gmtime()))
    sys.exit(run(LoadTest(url=url, users=users, spawn_rate=spawn_rate, run_time=run_time, scenario=scenario,
                          stock=stock, report_dir=folder, processes=processes)))


@main.command("verify-draw")
@click.argument("bag_id")
def verify_draw(bag_id: str) -> None:
    """Recompute a lucky bag's winners from its recorded audit and check the seed against the hash
    published when it opened (the rule: stream/fairness.py). Exit 0 when both hold, 1 when not."""
    from infra.db import create_engine
    from infra.errors import DomainError
    from stream.api import AuditRow, load_audit

    async def recorded() -> AuditRow:
        engine = create_engine(_settings().sql_url)
        try:
            return await load_audit(engine, bag_id)
        finally:
            await engine.dispose()

    try:
        row = asyncio.run(recorded())
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    verdict = row.verdict()
    opts = row.options
    click.echo(f"bag {row.bag_id} ({row.title}) of session {row.session_id}, rule {verdict.rule}")
    click.echo(f"seed       {row.seed}")
    click.echo(f"seed hash  {row.seed_hash or '(none published: a draw from before seeds were committed)'}")
    if opts:
        click.echo(f"prizes {opts.prizes}, prefer_new_days {opts.prefer_new_days}, monthly_cap {opts.monthly_cap}, "
                   f"undrawn {opts.undrawn}; recent winners {opts.recent or '-'}, capped {opts.capped or '-'}")
    click.echo(f"entrants   {len(row.entrants)}")
    click.echo(f"recorded   {', '.join(verdict.recorded) or '-'}")
    click.echo(f"recomputed {', '.join(verdict.recomputed) or '-'}")
    click.echo(f"sha256(seed) matches the published hash: {'yes' if verdict.seed_matches else 'NO'}")
    click.echo(f"recomputed winners match the recorded ones: {'yes' if verdict.winners_match else 'NO'}")
    sys.exit(0 if verdict.ok else 1)


def _register_crowdfund_tools() -> None:
    from crowdfund.api import aggregate_cmd, chain

    main.add_command(chain)
    main.add_command(aggregate_cmd)


_register_crowdfund_tools()

if __name__ == "__main__":  # pragma: no cover
    main()
