"""What every locust user shares: the command-line options, the scenarios, tokens and the live session.

Importing this module registers locust's hooks: the extra options, the choice of users by
scenario, and the setup in ``test_start`` that creates the live session (on the master or the
only process; workers receive the session id with the master's custom options).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import ProxyHandler, Request, build_opener

import gevent
from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner

from infra.auth import issue_token
from loadtest.run_files import SESSION_FILE, append_line

log = logging.getLogger("linli.loadtest")

# Which user classes spawn in each scenario; the host runs in all of them.
SCENARIOS = {
    "flash": {"Grabber", "Host"},
    "luckybag": {"LuckyBagEntrant", "Host"},
    "mixed": {"Viewer", "Grabber", "LuckyBagEntrant", "Host"},
}
PASSPHRASE = "邻里好"  # set on every lucky bag the host starts, commented or sent by the entrants
TOKEN_TTL_S = 6 * 3600
_http = build_opener(ProxyHandler({}))


@events.init_command_line_parser.add_listener  # type: ignore[untyped-decorator] # locust leaves it unannotated
def _options(parser: Any) -> None:
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="mixed", help="Which users spawn.")
    parser.add_argument("--session-id", default="", help="Use this live session instead of creating one.")
    parser.add_argument("--community", default="loadtest", help="Community of the session and the tokens.")
    parser.add_argument("--items", type=int, default=3, help="Items created with the session.")
    parser.add_argument("--stock", type=int, default=int(os.environ.get("LINLI_LOAD_STOCK", "100")),
                        help="Units loaded per item (env LINLI_LOAD_STOCK).")
    parser.add_argument("--per-user-limit", type=int, default=int(os.environ.get("LINLI_LOAD_LIMIT", "2")),
                        help="Per-user limit of each item (env LINLI_LOAD_LIMIT).")
    parser.add_argument("--flash-s", type=int, default=10, help="Length of each flash sale.")
    parser.add_argument("--report-dir", default="", help="Where to write acknowledged orders, bags and entries.")


@events.init.add_listener  # type: ignore[untyped-decorator] # locust leaves it unannotated
def _pick_users(environment: Environment, **_: Any) -> None:
    # Users outside the scenario must not spawn: drop them before any runner dispatches.
    if environment.parsed_options is not None:
        wanted = SCENARIOS[environment.parsed_options.scenario]
        environment.user_classes[:] = [u for u in environment.user_classes if u.__name__ in wanted]


def token(opts: Any, user: str, role: str) -> str:
    """A token for ``user`` in the run's community (an operator's has none), minted from LINLI_SECRET."""
    secret = os.environ.get("LINLI_SECRET")
    if not secret:
        raise RuntimeError("set LINLI_SECRET to the server's secret: tokens are minted locally")
    community = None if role == "operator" else opts.community
    return issue_token(secret, user_id=user, role=role, community_id=community, ttl_s=TOKEN_TTL_S)


def record(opts: Any, filename: str, line: str) -> None:
    """Append a line to a run file for the invariant checks; nothing when the run keeps no report."""
    if opts.report_dir:
        append_line(opts.report_dir, filename, line)


def _call(base: str, method: str, path: str, bearer: str, body: Any = None) -> tuple[int, Any]:
    """One JSON call outside locust's stats (setup is not part of the measurement)."""
    data = None if body is None else json.dumps(body).encode()
    req = Request(base + path, data=data, method=method,
                  headers={"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"})
    try:
        with _http.open(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _ok(base: str, method: str, path: str, bearer: str, body: Any = None) -> Any:
    status, data = _call(base, method, path, bearer, body)
    if status not in (200, 201):
        raise RuntimeError(f"{method} {path} answered {status}: {data}")
    return data


def prepare_session(base: str, opts: Any) -> dict[str, Any]:
    """Reuse --session-id, or create the community (409 is fine), a session and its items, live."""
    host, operator = token(opts, "loadtest-host", "host"), token(opts, "loadtest-operator", "operator")
    if not opts.session_id:
        status, body = _call(base, "POST", "/api/communities", operator, {"id": opts.community, "name": "压测小区"})
        if status not in (201, 409):
            raise RuntimeError(f"creating the community answered {status}: {body}")
        sid = _ok(base, "POST", "/api/sessions", host, {"title": "压测直播", "community_id": opts.community})["id"]
        for n in range(opts.items):
            _ok(base, "POST", f"/api/sessions/{sid}/items", host, {
                "title": f"秒杀{n + 1}", "price_cents": 990, "stock": opts.stock,
                "per_user_limit": opts.per_user_limit, "unit": "份"})
        _ok(base, "POST", f"/api/sessions/{sid}/live", host)
        opts.session_id = sid
    session = _ok(base, "GET", f"/api/sessions/{opts.session_id}", host)
    return {"session_id": opts.session_id, "community_id": opts.community, "stock": opts.stock,
            "per_user_limit": opts.per_user_limit, "scenario": opts.scenario,
            "items": [i["id"] for i in session["items"]]}


@events.test_start.add_listener  # type: ignore[untyped-decorator] # locust leaves it unannotated
def _setup(environment: Environment, **_: Any) -> None:
    opts = environment.parsed_options
    if opts is None or isinstance(environment.runner, WorkerRunner):
        return  # workers got session_id with the master's options
    try:
        room = prepare_session(environment.host or "", opts)
    except Exception:
        log.exception("load test setup failed")
        environment.process_exit_code = 3
        gevent.spawn(environment.runner.quit)  # type: ignore[union-attr]
        return
    if opts.report_dir:
        Path(opts.report_dir).mkdir(parents=True, exist_ok=True)
        (Path(opts.report_dir) / SESSION_FILE).write_text(json.dumps(room))
    log.info("live session %s with items %s", room["session_id"], room["items"])

