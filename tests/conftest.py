"""Shared fixtures: a bootstrapped database and the two kinds of user."""

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

SHARED_DIR = Path(settings.BASE_DIR).parent / "shared"


def pytest_collection_modifyitems(config, items):
    """Browser tests last: they are the slowest, and nothing after them inherits their event loop."""
    items.sort(key=lambda item: "/tests/e2e/" in str(item.path))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """After every test that used the database: the positions table the fills keep agrees with a replay of the
    fills, figure for figure (what ``rebuild_positions --check`` reports). So every path that writes a fill, in
    every test, is checked to keep the table in the same transaction.

    The comparison runs before the test's fixtures are torn down (its database is still there); a difference is
    raised after they are, so the test fails alone and the next test starts clean. A test whose transaction is
    broken (it asserted on a database error) cannot be read and is judged by itself."""
    from django.db import connection
    from django.db.backends.base.base import BaseDatabaseWrapper

    differences = []
    if (getattr(BaseDatabaseWrapper.ensure_connection, "__name__", "") != "_blocking_wrapper"
            and not item.get_closest_marker("positions_unchecked") and not connection.needs_rollback):
        from sleeves.services import positions_table_differences

        differences, _ = positions_table_differences()
    result = yield
    if differences:
        raise AssertionError("positions table differs from the fills: " + "; ".join(map(str, differences)))
    return result


@pytest.fixture
def shared_dir() -> Path:
    """The operator's real legacy and market files, beside the repository (never copied into it)."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"{SHARED_DIR} is not present: the real legacy and market files are not available here")
    return SHARED_DIR


@pytest.fixture
def booted(db):
    """A database after `bootstrap`: sleeves, settings, instruments, roll calendar and groups."""
    from dspops.bootstrap import bootstrap

    return bootstrap(create_operator=False)


def _user(username: str, group: str):
    user = get_user_model().objects.create_user(username=username, password="pw-for-tests", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def operator_user(booted):
    return _user("olivia", "Operator")


@pytest.fixture
def viewer_user(booted):
    return _user("victor", "Viewer")


@pytest.fixture
def operator_client(client, operator_user):
    client.force_login(operator_user)
    return client


@pytest.fixture
def viewer_client(client, viewer_user):
    client.force_login(viewer_user)
    return client


@pytest.fixture
def broker(settings):
    """Start the TWS simulator on an ephemeral port and point the app's settings at it.

    broker("calm_contango", {"faults": {...}}) -> the running SimulatorServer. Every role's
    connection (web, worker, shell) then reaches it over TCP through the real ib_insync client.
    """
    from dspops.simulator import SimulatorServer, load_scenario

    servers = []

    def start(scenario: str = "calm_contango", overrides: dict | None = None):
        server = SimulatorServer(load_scenario(scenario, overrides), host="127.0.0.1", port=0)
        server.start()
        servers.append(server)
        settings.IB_HOST, settings.IB_PORT = "127.0.0.1", server.port
        settings.IB_CONNECT_TIMEOUT, settings.IB_REQUEST_TIMEOUT = 5.0, 5.0
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def today_book():
    """The VXM months the simulator's relative names mean today: (front, second, third) as
    ContractMonths, their local symbols, and the current CFE session. Tests that talk to the
    simulator use these, so they hold on any day, not only the day they were written."""
    from types import SimpleNamespace

    from dspops.core import calendars, clock
    from dspops.core import vx

    session = calendars.session_on_or_before(clock.trading_date(), exchange="XCBF")
    months = vx.front_contracts(session)
    return SimpleNamespace(session=session, months=months, symbols=tuple(m.local_symbol() for m in months),
                           nyse_session=clock.current_session())


@pytest.fixture
def spread_config(booted, today_book):
    """The active VRP-CS position config the simulator's scenarios hold: -1 front / +1 second VXM of today's
    book, entered at 17.45 / 18.10 (0.65). Without it any VXM the broker holds is a naked leg."""
    from decimal import Decimal

    from dspops.core import vx
    from dspops.core.instruments import vxm_instrument
    from sleeves.models import Sleeve, SpreadPosition

    front, second, _ = today_book.months
    dates = vx.contract_dates(front)
    return SpreadPosition.objects.create(
        sleeve=Sleeve.objects.get(code="VRP_CS"), short_leg=vxm_instrument(front), long_leg=vxm_instrument(second),
        quantity=1, short_entry_price=Decimal("17.45"), long_entry_price=Decimal("18.10"),
        entry_date=today_book.session, entry_spread=Decimal("0.65"), stop_loss_spread=Decimal("0.32"),
        take_profit_spread=Decimal("1.30"), settlement_date=dates.settlement_date, roll_by=dates.roll_by)


def cfe_session_moment(hour: int = 11, minute: int = 0):
    """11:00 New York on the latest day, on or before today, that is both a CFE and an NYSE session
    (and not an early close): a moment when a roll may be checked and the book's tasks run."""
    from datetime import datetime

    from dspops.core import calendars, clock

    day = clock.trading_date()
    while True:
        day = calendars.session_on_or_before(day, exchange="XCBF")
        if calendars.is_session(day):
            opened, closed = calendars.session_hours(day, exchange="XCBF")
            moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=calendars.NEW_YORK)
            if opened <= moment < closed and (closed - moment).total_seconds() > 3 * 3600:
                return moment
        day = calendars.previous_session(day, exchange="XCBF")


@pytest.fixture
def cfe_session_clock(time_machine):
    """Move the clock (ticking) to 11:00 New York on the latest CFE + NYSE session: pre-roll checks need CFE
    to be open, so tests that expect a GO pin this moment and hold on weekends and holidays too."""
    moment = cfe_session_moment()
    time_machine.move_to(moment, tick=True)
    return moment
