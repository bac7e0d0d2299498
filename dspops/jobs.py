"""The live jobs that cross apps. Each opens ONE gateway session: broker snapshot -> monitors -> digest.

The session stores the broker snapshot (the quotes of everything the book watches, the positions,
the account), and the monitors then run on the same connection with the quotes that snapshot
recorded, so VIX is quoted once per job, not once per monitor. The digest is built afterwards from
what was stored (digests.services never reads the broker). A broker that cannot be reached makes
the digest from stored data with a critical ``broker_unavailable`` alert; it never aborts it.

The daily digest task, the dashboard's digest button, ``daily_digest --live`` and ``warm_up`` all
use these pieces.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from django.db.models import Max

from digests.models import Digest
from digests.services import LiveRefresh, generate_digest, live_session
from dspops.core.errors import OperatorError
from dspops.core import clock
from dspops.core.broker_sync import GatewayError, open_gateway, refresh_broker_snapshot
from dspops.core.models import BrokerSnapshot, QuoteSnapshot
from sleeves.fill_import import sync_fills
from sleeves.monitors import MonitorOutcome, run_vol_target, run_vrp_cs_monitor, run_vrp_erp_monitor
from sleeves.reconcile import reconcile
from sleeves.selectors import watched_instruments

if TYPE_CHECKING:  # ib_insync loads only when a connection is made, not at start-up
    from dspops.core.broker.gateway import Gateway

# What a broker that cannot be reached raises: the gateway's own error, or the socket's.
BROKER_DOWN = (GatewayError, OSError, TimeoutError)


@dataclass(frozen=True)
class BrokerSession:
    """One open connection and what it read first: the stored snapshot and the quotes it recorded."""

    gateway: Gateway
    snapshot: BrokerSnapshot
    quotes: dict[int, QuoteSnapshot]  # by Instrument pk


def _read(gateway: Gateway, *, requested_by: str) -> tuple[BrokerSnapshot, dict[int, QuoteSnapshot]]:
    instruments = watched_instruments()
    mark = QuoteSnapshot.objects.aggregate(last=Max("pk"))["last"] or 0
    snapshot = refresh_broker_snapshot(instruments=instruments, gateway=gateway, requested_by=requested_by)
    # The rows the snapshot just recorded (by pk, the newest last), handed to the monitors so no
    # instrument is quoted twice in one session.
    recorded = QuoteSnapshot.objects.filter(pk__gt=mark, instrument__in=instruments).order_by("pk")
    return snapshot, {quote.instrument_id: quote for quote in recorded}


@contextmanager
def broker_session(role: str, *, requested_by: str, wait: float = 0) -> Iterator[BrokerSession]:
    """Connect as ``role`` and store the broker snapshot; closed on leaving the block.

    ``wait``: keep trying for this many seconds while the broker is not up yet. Raises GatewayError
    (or the socket's OSError) when it cannot be read.
    """
    deadline = time.monotonic() + wait
    while True:
        gateway = open_gateway(role)
        try:
            gateway.connect()
            snapshot, quotes = _read(gateway, requested_by=requested_by)
            break
        except GatewayError:
            gateway.close()
            if time.monotonic() >= deadline:
                raise
            time.sleep(1)
        except BaseException:
            gateway.close()
            raise
    try:
        yield BrokerSession(gateway=gateway, snapshot=snapshot, quotes=quotes)
    finally:
        gateway.close()


@dataclass(frozen=True)
class MonitorRuns:
    erp: MonitorOutcome
    cs: MonitorOutcome


def run_monitors(session: BrokerSession, *, role: str, triggered_by: str) -> MonitorRuns:
    """Both VRP monitors on the session's connection and quotes. A broker that drops in between makes
    their run DATA UNAVAILABLE, with the reason."""
    common = {"live": True, "gateway": session.gateway, "quotes": session.quotes, "role": role,
              "triggered_by": triggered_by}
    return MonitorRuns(erp=run_vrp_erp_monitor(**common), cs=run_vrp_cs_monitor(**common))


def refresh_for_digest(*, role: str, triggered_by: str) -> LiveRefresh:
    """One gateway session: the broker snapshot, then both VRP monitors. What the digest is told."""
    with ExitStack() as stack:
        try:
            session = stack.enter_context(broker_session(role, requested_by=triggered_by))
        except BROKER_DOWN as exc:
            return LiveRefresh(snapshot=None, error=str(exc) or type(exc).__name__)
        run_monitors(session, role=role, triggered_by=triggered_by)
    return LiveRefresh(snapshot=session.snapshot)


def live_digest(*, trading_date: date | None = None, write_file: bool = True, role: str = "shell",
                triggered_by: str = "command") -> Digest:
    """The live digest of the current session: one gateway session (snapshot, monitors), then the digest
    from the stored rows.

    Raises NotASessionError / DigestError (digests.services) for a date it cannot be made for, before
    the broker is read.
    """
    day = live_session(trading_date=trading_date)
    refreshed = refresh_for_digest(role=role, triggered_by=triggered_by)
    return generate_digest(trading_date=day, live=refreshed, write_file=write_file, role=role,
                           triggered_by=triggered_by)


# --- warm-up -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepResult:
    name: str
    summary: str = ""
    error: str = ""


def warm_up(session: BrokerSession, *, triggered_by: str = "warm-up") -> Iterator[StepResult]:
    """Bring a freshly started dspops up to date on one session: import recent executions, update the
    vol-target overlay, run both monitors, reconcile. Each step reports as it ends; a step that fails
    does not stop the others."""
    gateway, quotes = session.gateway, session.quotes
    steps: tuple[tuple[str, Callable, Callable], ...] = (
        ("fill sync", lambda: sync_fills(since=clock.now() - timedelta(days=7), gateway=gateway,
                                         triggered_by=triggered_by),
         lambda r: f"{r.created} new, {r.skipped} known, {len(r.unattributed)} unattributed"),
        ("vol target", lambda: run_vol_target(live=True, gateway=gateway, triggered_by=triggered_by),
         lambda r: f"{r.payload['data_status']}, multiplier {r.payload['multiplier']}"),
        ("VRP-ERP monitor", lambda: run_vrp_erp_monitor(live=True, gateway=gateway, quotes=quotes,
                                                        triggered_by=triggered_by),
         lambda r: f"{r.payload['data_status']}, regime {r.payload['regime']}"),
        ("VRP-CS monitor", lambda: run_vrp_cs_monitor(live=True, gateway=gateway, quotes=quotes,
                                                      triggered_by=triggered_by),
         lambda r: f"{r.payload['data_status']}, gate {r.payload['gate_state']}"),
        ("reconciliation", lambda: reconcile(gateway=gateway, triggered_by=triggered_by),
         lambda r: "positions match the broker" if r.ok else f"{len(r.breaks)} break(s)"),
    )
    for name, run, summary in steps:
        try:
            yield StepResult(name, summary=summary(run()))
        except OperatorError as exc:  # one step failing (broker, fills, a setting) does not stop the others
            yield StepResult(name, error=str(exc))
