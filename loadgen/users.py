"""Locust users sending SELECTs with asyncpg to the stand's anycast address (run as loadgen/select.py).

    locust -f loadgen/select.py                       # web UI; host and credentials from the running stand
    locust -f loadgen/select.py --headless -u 50 -r 10 -t 60s --pg-mode per-query
    locust -f loadgen/select.py --tags point          # only the point SELECTs
    locust -f loadgen/select.py --headless -u 24 --pg-rate 40 --pg-mode per-query  # 40 arrivals a second, open loop
    locust -f loadgen/select.py --pg-protocol simple  # the key pasted into the SQL text (simple query protocol)
    locust -f loadgen/select.py --host postgresql://bench:secret@127.0.0.1:5432/bench

Every request is also recorded, with who served it, under --pg-records (Arrow IPC, see loadgen/records.py).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `locust -f loadgen/users.py` from anywhere

import gevent  # noqa: E402
from locust import User, events, tag, task  # noqa: E402
from locust.runners import MasterRunner, WorkerRunner  # noqa: E402

from loadgen.bridge import GeventLoop  # noqa: E402
from loadgen.client import (  # noqa: E402
    EXTENDED,
    MODES,
    PERSISTENT,
    PROTOCOLS,
    ClientOptions,
    PgClient,
    as_exception,
    parse_keys,
)
from loadgen.pacing import Pacing  # noqa: E402
from loadgen.records import RecordWriter  # noqa: E402
from loadgen.sites import check_sites, parse_sites  # noqa: E402
from loadgen.targets import checked_target  # noqa: E402
from stand.client import NoStand  # noqa: E402
from stand.safety import UnsafeTarget  # noqa: E402

REQUEST_TYPE = "asyncpg"
FLUSH_INTERVAL_S = 1.0


@events.init_command_line_parser.add_listener
def add_arguments(parser) -> None:
    parser.add_argument(
        "--pg-mode",
        choices=MODES,
        default=PERSISTENT,
        include_in_web_ui=True,
        help="persistent: one connection per user; per-query: a new TCP connection for each query",
    )
    parser.add_argument(
        "--pg-protocol",
        choices=PROTOCOLS,
        default=EXTENDED,
        include_in_web_ui=True,
        help="extended: the key as a parameter, the row read back and checked (asyncpg's way for "
        "every query that returns rows); simple: the key and its branch pasted into the SQL text, "
        "the command tag checked ('SELECT 1'), and who serves each connection asked once right after "
        "connecting (with --pg-mode per-query, that is a second query per request)",
    )
    parser.add_argument(
        "--pg-site",
        default="",
        help="the site these users simulate, recorded with each request "
        "(default: the site of the stand host this process runs in, main outside the stand)",
    )
    parser.add_argument(
        "--pg-sites",
        default="",
        help="SITE=NAMESPACE,...: the users take the sites in turn, each opening its connections inside its "
        "site's client namespace of the running stand (loadgen/sites.py): one process loads every site",
    )
    parser.add_argument("--pg-records", default="records", help="directory for the request records")
    parser.add_argument("--pg-connect-timeout", type=float, default=2.0, help="seconds")
    parser.add_argument("--pg-query-timeout", type=float, default=2.0, help="seconds")
    parser.add_argument("--pg-think-ms", type=float, default=0.0, help="each user's pause between requests")
    parser.add_argument(
        "--pg-session-s",
        type=float,
        default=0.0,
        help="with --pg-mode persistent: each user closes its connection after a request once it is this many "
        "seconds old, and opens a new one for the next, as an application's pool retires connections "
        "(default 0: kept for good)",
    )
    parser.add_argument(
        "--pg-rate",
        type=float,
        default=0.0,
        include_in_web_ui=True,
        help="requests a second over all users, open loop (loadgen/pacing.py): each user sends on its own schedule, "
        "late ones at once, and records when it was due; the users are the connections the arrivals share "
        "(default 0: closed loop, with --pg-think-ms)",
    )
    parser.add_argument("--pg-keys", default="", help="FIRST-LAST: restrict the account keys (default: all)")
    parser.add_argument("--pg-stand", default="pgab", help="prefix of the stand to take host and credentials from")
    parser.add_argument(
        "--pg-deployment",
        default="",
        help="on a real deployment's client machine (bench run --inventory): the settings file the runner wrote "
        "(target, credentials, the addresses it checked) in place of a running stand's",
    )
    parser.add_argument(
        "--pg-stages",
        default="",
        help="AT_S:USERS,...: the number of users from each second on "
        "(only with -f loadgen/staged.py, which follows it; e.g. 0:12,10:96,25:12)",
    )


class LoadSession:
    """Per Locust process: the target, the asyncio loop on gevent's hub, and the record writer with its flusher."""

    def __init__(self, environment):
        options = environment.parsed_options
        if options.pg_rate < 0 or (options.pg_rate and options.pg_think_ms):
            raise ValueError("--pg-rate: must not be negative, and paces the users instead of --pg-think-ms")
        if options.pg_session_s < 0:
            raise ValueError(f"--pg-session-s: must not be negative (got {options.pg_session_s:g})")
        deployment = Path(options.pg_deployment) if options.pg_deployment else None
        # before any traffic: only into a running stand (or loopback), or to the deployment's checked addresses
        self.settings, device = checked_target(environment.host, options.pg_stand, deployment)
        self.options = ClientOptions(
            mode=options.pg_mode,
            protocol=options.pg_protocol,
            site=options.pg_site or self.settings.site,
            connect_timeout=options.pg_connect_timeout,
            query_timeout=options.pg_query_timeout,
            keys=parse_keys(options.pg_keys),
            session_s=options.pg_session_s,
        )
        self.sites = parse_sites(options.pg_sites)
        check_sites(self.sites)  # each one a running stand's namespace: nothing leads out of it
        self.loop = GeventLoop(bind_device=device)  # every connection, reconnects too, only through that link
        self.writer = RecordWriter(Path(options.pg_records), "requests", "sites" if self.sites else self.options.site)
        self.users = 0
        self.environment = environment
        self._flusher = gevent.spawn(self._flush_every_second)

    def _flush_every_second(self) -> None:
        while True:
            gevent.sleep(FLUSH_INTERVAL_S)
            self.writer.flush()

    def new_client(self) -> PgClient:
        """The next user's client; with sites, the users take them in turn."""
        self.users += 1
        options = self.options
        if self.sites:
            site = self.sites[(self.users - 1) % len(self.sites)]
            options = replace(options, site=site.name, namespace=site.namespace)
        return PgClient(self.settings, options, self.users)

    def pacing(self) -> Pacing | None:
        """A new user's schedule with --pg-rate (its share of the rate over -u users); None: closed loop."""
        rate = self.environment.parsed_options.pg_rate
        if not rate:
            return None
        users = self.environment.parsed_options.num_users or self.environment.runner.target_user_count
        return Pacing(rate, max(1, users))

    def close(self) -> None:
        self._flusher.kill()
        self.writer.close()


@events.init.add_listener
def refuse_unsafe_target(environment, **_) -> None:
    """Stop at once, before any user starts, unless the target is routed into a running stand."""
    options = environment.parsed_options
    if isinstance(environment.runner, WorkerRunner):
        return  # a worker checks at test start, with the options its master sends
    if options.pg_deployment and isinstance(environment.runner, MasterRunner):
        return  # a deployment's master sends no load: its workers check, each on its own machine
    try:
        deployment = Path(options.pg_deployment) if options.pg_deployment else None
        checked_target(environment.host, options.pg_stand, deployment)
        check_sites(parse_sites(environment.parsed_options.pg_sites))
    except (UnsafeTarget, NoStand, ValueError) as e:
        sys.exit(f"loadgen: {e}")


@events.test_start.add_listener
def open_session(environment, **_) -> None:
    if isinstance(environment.runner, MasterRunner):
        return
    try:
        environment.pg_session = LoadSession(environment)
    except (UnsafeTarget, NoStand, ValueError) as e:
        logging.error("loadgen: %s", e)
        environment.process_exit_code = 1
        environment.runner.quit()


@events.test_stop.add_listener
def close_session(environment, **_) -> None:
    session = getattr(environment, "pg_session", None)
    if session is not None:
        session.close()
        environment.pg_session = None


class PgUser(User):
    """A simulated client with its own connection(s); its requests run on the process's asyncio loop."""

    abstract = True

    def wait_time(self) -> float:
        if self.pacing is not None:
            return self.pacing.wait_s()
        return self.environment.parsed_options.pg_think_ms / 1000

    def on_start(self) -> None:
        self.session: LoadSession = self.environment.pg_session
        self.pg = self.session.new_client()
        self.pacing = self.session.pacing()
        if self.pacing is not None:
            gevent.sleep(self.pacing.wait_s())  # the first request at this user's phase

    def on_stop(self) -> None:
        self.session.loop.run(self.pg.close())

    def request(self, workload: str) -> None:
        scheduled_us = None
        if self.pacing is not None:
            scheduled_us = self.pacing.due_us
            self.pacing.advance()
        record = self.session.loop.run(self.pg.request(workload, scheduled_us=scheduled_us))
        self.environment.events.request.fire(
            request_type=REQUEST_TYPE,
            name=workload,
            response_time=record.latency_ms,
            response_length=0,
            exception=as_exception(record),
            context={"balancer": record.balancer, "backend": record.backend, "site": record.site},
        )
        self.session.writer.add(record)


class SelectUser(PgUser):
    """Point SELECTs by random key (checked), and now and then a short read-only transaction."""

    @tag("point")
    @task(9)
    def point(self) -> None:
        self.request("point")

    @tag("mix")
    @task(1)
    def mix(self) -> None:
        self.request("mix")
