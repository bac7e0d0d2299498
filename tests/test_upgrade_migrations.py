"""The upgrade test: a database at the schema before the floors moved (Alert in digests, the VRP-CS
position config in rolls) is filled with rows in every table of the four apps, migrated forward to
today's migrations, and every row and every history row is still there, with the same keys and values.
The content types moved with their models, so permissions and admin log entries still point at them.
Then it migrates back and the rows are still there.

It runs on SQLite (`make test`) and on PostgreSQL (CI, DATABASE_URL): nothing here is skipped on either.
"""

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from django.core.management.sql import emit_post_migrate_signal
from django.db import DEFAULT_DB_ALIAS, connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

APPS = ("dspops", "sleeves", "rolls", "digests")  # the kernel (label dspops), then the floors above it

# The schema before the moves: what every database held before commit 7d09ddd.
BEFORE_THE_MOVES = [
    ("dspops", "0002_broker_snapshot"),
    ("sleeves", "0003_run_tasks_permission"),
    ("rolls", "0002_roll_attempts"),
    ("digests", "0001_initial"),
]
THE_MOVES = {
    ("dspops", "0003_alert_from_digests"),
    ("digests", "0002_alert_moves_to_kernel"),
    ("sleeves", "0004_spread_position_from_rolls"),
    ("rolls", "0003_spread_position_moves_to_sleeves"),
}
# Old model -> where it lives now. Every other model keeps its app.
MOVED = {
    "digests.Alert": "dspops.Alert",
    "rolls.SpreadPosition": "sleeves.SpreadPosition",
    "rolls.HistoricalSpreadPosition": "sleeves.HistoricalSpreadPosition",
}
MOVED_CONTENT_TYPES = {  # (old app_label, model) -> new app_label
    ("digests", "alert"): "dspops",
    ("rolls", "spreadposition"): "sleeves",
    ("rolls", "historicalspreadposition"): "sleeves",
}

AT = datetime(2026, 1, 13, 15, 0, tzinfo=timezone.utc)
SESSION = date(2026, 1, 13)


# The database ends at the migration under test, not the current schema: the positions table may not exist yet.
@pytest.mark.positions_unchecked
def test_an_upgrade_keeps_every_row_and_every_history_row(migrator):
    # apply_initial_migration(BEFORE_THE_MOVES) would cut Django's full plan after the last of those
    # targets, and that plan runs dspops.0003 / digests.0002 before rolls.0002: the "old" database
    # would already hold the Alert in the kernel. So start from an empty database (every table dropped,
    # no migration recorded) and let Django plan exactly the old schema: the four apps before the
    # moves, every other app (auth, admin, contenttypes, ...) at its newest.
    migrator.apply_initial_migration(("contenttypes", None))
    old_state = migrator.apply_tested_migration(_before_the_moves())
    assert not THE_MOVES & _applied(), "the starting schema must be the one before the moves"
    old_apps = old_state.apps
    _post_migrate(old_apps)  # as `migrate` would have: content types and permissions of the old schema

    keys = _fill_every_table(old_apps)
    for label in APPS:
        for model in old_apps.get_app_config(label).get_models():
            assert model._base_manager.exists(), f"{model._meta.label} has no row: the upgrade test must fill it"
    before = _rows(old_apps, old_apps)
    before_types = _content_types(old_apps)
    before_permissions = _permissions(old_apps)

    # Forward to the newest migration of each of the four apps, found in the graph (not written here),
    # so a later migration of these apps is run by this test too.
    new_apps = migrator.apply_tested_migration(_newest()).apps
    assert THE_MOVES <= _applied()

    assert _rows(old_apps, new_apps, moved=True) == before
    _check_the_moved_rows(new_apps, keys)
    _check_the_content_types_moved(new_apps, keys, before_types)
    _post_migrate(new_apps)  # what `migrate` does next: it must find the moved models' content types
    after_types, after_permissions = _content_types(new_apps), _permissions(new_apps)
    assert {ct_id: after_types.get(ct_id) for ct_id in before_types} == {
        ct_id: (MOVED_CONTENT_TYPES.get(key, key[0]), key[1]) for ct_id, key in before_types.items()
    }
    # (A model added by a later migration may get a new content type; a moved one may not.)
    assert not {key for ct_id, key in after_types.items() if ct_id not in before_types} & {
        (new_label, model) for (_, model), new_label in MOVED_CONTENT_TYPES.items()}
    assert {pk: after_permissions.get(pk) for pk in before_permissions} == before_permissions

    # And back: the state-only moves and the content-type moves are reversible.
    back_apps = migrator.apply_tested_migration(BEFORE_THE_MOVES).apps
    assert not THE_MOVES & _applied()
    assert _rows(old_apps, back_apps) == before
    back_types, back_permissions = _content_types(back_apps), _permissions(back_apps)
    assert {ct_id: back_types.get(ct_id) for ct_id in before_types} == before_types
    assert {pk: back_permissions.get(pk) for pk in before_permissions} == before_permissions
    alert_type = back_apps.get_model("contenttypes", "ContentType").objects.get(pk=keys["alert_type"])
    assert (alert_type.app_label, alert_type.model) == ("digests", "alert")


# --- the migration graph ---------------------------------------------------------------------------

def _before_the_moves() -> list[tuple[str, str]]:
    others = [node for node in MigrationLoader(connection).graph.leaf_nodes() if node[0] not in APPS]
    return BEFORE_THE_MOVES + others


def _newest() -> list[tuple[str, str]]:
    return sorted(node for node in MigrationLoader(connection).graph.leaf_nodes() if node[0] in APPS)


def _applied() -> set[tuple[str, str]]:
    return set(MigrationRecorder(connection).applied_migrations())


def _post_migrate(apps) -> None:
    """The post_migrate signal `migrate` sends (the migrator mutes it): it creates the content types and
    permissions the schema in `apps` is missing, and would create duplicates for a model whose content
    type did not move with it."""
    emit_post_migrate_signal(0, False, DEFAULT_DB_ALIAS, apps=apps, plan=[])


# --- filling the old schema ------------------------------------------------------------------------

def _fill_every_table(apps) -> dict:
    """At least one row in every table of the four apps, made with the old schema's models.

    Returns the keys the checks after the upgrade follow."""
    model = apps.get_model
    user = model("auth", "User").objects.create(username="olivia", password="!", is_staff=True)

    instrument = model("dspops", "Instrument").objects
    spy = instrument.create(symbol="SPY", sec_type="STK", exchange="SMART", local_symbol="SPY", con_id=756733)
    front, back, next_back = (
        instrument.create(symbol="VXM", sec_type="FUT", exchange="CFE", local_symbol=local_symbol,
                          contract_month=month, settlement_date=settles, multiplier=Decimal("100"))
        for local_symbol, month, settles in (("VXMF6", "2026-01", date(2026, 1, 21)),
                                             ("VXMG6", "2026-02", date(2026, 2, 18)),
                                             ("VXMH6", "2026-03", date(2026, 3, 18)))
    )
    model("dspops", "QuoteSnapshot").objects.create(
        instrument=spy, bid=Decimal("590.10"), ask=Decimal("590.12"), source="live", as_of=AT, valid=True,
        market_data_type=1)
    model("dspops", "BrokerSnapshot").objects.create(
        as_of=AT, account="SIM0001", simulated=True, net_liquidation=Decimal("100000.00"),
        positions=[{"con_id": 756733, "local_symbol": "SPY", "sec_type": "STK", "quantity": 10}])

    sleeve = model("sleeves", "Sleeve").objects.create(code="VRP_CS", name="VRP-CS", order_ref_prefix="VRPCS")
    _history(apps, "sleeves.HistoricalSleeve", sleeve, user)
    setting = model("sleeves", "SleeveParameter").objects.create(sleeve=sleeve, key="stop_multiple", value="0.5")
    model("sleeves", "SleeveParameter").objects.create(sleeve=None, key="book_nav_floor", value="50000")
    _history(apps, "sleeves.HistoricalSleeveParameter", setting, user)
    fill = model("sleeves", "Fill").objects.create(
        sleeve=sleeve, instrument=front, side="SELL", quantity=Decimal("2"), price=Decimal("18.50"),
        commission=Decimal("2.10"), executed_at=AT, exec_id="0000e0d5.1", source="manual", entered_by=user)
    _history(apps, "sleeves.HistoricalFill", fill, user)
    run = model("sleeves", "MonitorRun").objects
    cs_run = run.create(kind="vrp_cs", sleeve=sleeve, trading_date=SESSION, started_at=AT, status="ok")
    erp_run = run.create(kind="vrp_erp", trading_date=SESSION, started_at=AT, status="ok")
    dm_run = run.create(kind="dm_plan", trading_date=SESSION, started_at=AT, status="ok")
    model("sleeves", "VrpCsLogEntry").objects.create(
        run=cs_run, logged_at=AT, trading_date=SESSION, data_status="ok", vx1=Decimal("18.40"),
        vx2=Decimal("19.55"), spread=Decimal("1.15"), source="live", import_key="cs-2026-01-13")
    model("sleeves", "VrpErpLogEntry").objects.create(
        run=erp_run, logged_at=AT, trading_date=SESSION, data_status="ok", vix=Decimal("15.20"),
        spy_price=Decimal("590.11"), regime="calm", source="live")
    model("sleeves", "VolTargetState").objects.create(
        as_of_session=SESSION, multiplier=Decimal("1.0000"), source="stored", computed_at=AT, run=erp_run)
    model("sleeves", "PriceBar").objects.create(instrument=spy, session=SESSION, close=Decimal("590.11"),
                                               source="stored")
    gate = model("sleeves", "SignalState").objects.create(
        sleeve=sleeve, name="gate", state="open", since_session=SESSION, last_session=SESSION, source="live")
    _history(apps, "sleeves.HistoricalSignalState", gate, user)
    model("sleeves", "LegacyTrade").objects.create(logged_at=AT, action="BUY", mode="live", import_key="trade-1",
                                                  details={"symbol": "SPY", "quantity": 10})
    model("sleeves", "DmTarget").objects.create(month="2026-01", session=SESSION, run=dm_run,
                                               nav_usd=Decimal("40000.00"), created_at=AT)

    cycle = model("rolls", "RollCycle").objects.create(
        contract_month="2026-01", settlement_date=date(2026, 1, 21), roll_by=date(2026, 1, 16),
        sessions_before=3, generated_at=AT)
    _history(apps, "rolls.HistoricalRollCycle", cycle, user)
    position = model("rolls", "SpreadPosition").objects.create(
        sleeve=sleeve, short_leg=front, long_leg=back, quantity=2, short_entry_price=Decimal("18.50"),
        long_entry_price=Decimal("19.60"), entry_date=date(2025, 12, 15), entry_spread=Decimal("1.10"),
        stop_loss_spread=Decimal("0.55"), take_profit_spread=Decimal("2.20"), settlement_date=date(2026, 1, 21),
        roll_by=date(2026, 1, 16), is_active=True)
    _history(apps, "rolls.HistoricalSpreadPosition", position, user, history_type="+")
    _history(apps, "rolls.HistoricalSpreadPosition", position, user, history_type="~", note="stop moved")
    attempt = model("rolls", "RollAttempt").objects.create(
        sleeve=sleeve, position=position, quantity=2, old_front=front, middle=back, new_back=next_back,
        state="checked_go", version=1, created_at=AT, created_by=user)
    model("rolls", "RollTransition").objects.create(attempt=attempt, from_state="planned", to_state="checked_go",
                                                   at=AT, by=user, why="Pre-roll checks: GO.")
    check = model("rolls", "RollCheck").objects.create(attempt=attempt, checked_at=AT, verdict="GO",
                                                      data_complete=True)
    model("rolls", "CheckResult").objects.create(check_run=check, position=1, name="spread_width",
                                                label="Spread width", observed="0.05", threshold="0.10",
                                                passed=True)
    model("rolls", "RollLegFill").objects.create(
        attempt=attempt, ticket="close", instrument=front, side="BUY", quantity=2, price=Decimal("18.45"),
        executed_at=AT, source="manual", exec_id="0000e0d5.2", fill=fill, entered_by=user)

    model("digests", "Digest").objects.create(trading_date=SESSION, markdown="# Digest", generated_at=AT,
                                             source="generated")
    alert = model("digests", "Alert").objects
    open_alert = alert.create(severity="warning", code="roll_due", subject="2026-01", message="Roll by 2026-01-16.",
                              first_seen_at=AT, last_seen_at=AT)
    alert.create(severity="critical", code="stop_hit", subject="VXMF6/VXMG6", sleeve=sleeve,
                 message="The spread is at the stop.", first_seen_at=AT, last_seen_at=AT, occurrences=3,
                 resolved_at=AT, acknowledged_by=user, acknowledged_at=AT, emailed_at=AT)

    # The operator's group may change alerts and position configs; the admin logged a change to an alert.
    content_type = model("contenttypes", "ContentType").objects
    alert_type = content_type.get(app_label="digests", model="alert")
    position_type = content_type.get(app_label="rolls", model="spreadposition")
    permission = model("auth", "Permission").objects
    granted = [permission.get(content_type=alert_type, codename="change_alert"),
               permission.get(content_type=position_type, codename="change_spreadposition"),
               permission.get(content_type__app_label="rolls", codename="view_historicalspreadposition")]
    group = model("auth", "Group").objects.create(name="Operator")
    group.permissions.set(granted)
    log_entry = model("admin", "LogEntry").objects.create(
        action_time=AT, user=user, content_type=alert_type, object_id=str(open_alert.pk),
        object_repr=f"[warning] roll_due: {open_alert.subject}", action_flag=2, change_message="[]")

    return {"alert": open_alert.pk, "position": position.pk, "attempt": attempt.pk, "group": group.pk,
            "granted": sorted(p.pk for p in granted), "log_entry": log_entry.pk, "alert_type": alert_type.pk,
            "position_type": position_type.pk}


def _history(apps, label: str, instance, user, *, history_type: str = "+", **changed):
    """A django-simple-history row for `instance`, as HistoricalRecords writes it: the tracked fields
    copied, then who, when and what kind of change."""
    historical = apps.get_model(label)
    copied = {
        field.attname: getattr(instance, field.attname)
        for field in historical._meta.concrete_fields
        if not field.name.startswith("history_") and hasattr(instance, field.attname)
    }
    return historical.objects.create(**{**copied, **changed}, history_type=history_type, history_date=AT,
                                     history_user=user, history_change_reason="upgrade test")


# --- reading back ----------------------------------------------------------------------------------

def _rows(old_apps, apps, *, moved: bool = False) -> dict[str, list[dict]]:
    """Every row of every table of the four apps, read through `apps` (through a moved model's new app
    when `moved`), keyed by the old model and compared on the old model's columns."""
    rows = {}
    for label in APPS:
        for old_model in old_apps.get_app_config(label).get_models():
            old_label = old_model._meta.label
            now = apps.get_model(MOVED.get(old_label, old_label) if moved else old_label)
            columns = [field.attname for field in old_model._meta.concrete_fields]
            rows[old_label] = list(now._base_manager.order_by("pk").values(*columns))
    return rows


def _content_types(apps) -> dict[int, tuple[str, str]]:
    return {ct.pk: (ct.app_label, ct.model) for ct in apps.get_model("contenttypes", "ContentType").objects.all()}


def _permissions(apps) -> dict[int, tuple[int, str]]:
    return {p.pk: (p.content_type_id, p.codename) for p in apps.get_model("auth", "Permission").objects.all()}


def _check_the_moved_rows(apps, keys: dict) -> None:
    alert = apps.get_model("dspops", "Alert")._base_manager.get(pk=keys["alert"])
    assert (alert.code, alert.subject, alert.resolved_at) == ("roll_due", "2026-01", None)
    assert alert._meta.db_table == "digests_alert"

    position = apps.get_model("sleeves", "SpreadPosition")._base_manager.get(pk=keys["position"])
    assert (position.quantity, position.entry_spread, position.short_leg.local_symbol,
            position.long_leg.local_symbol, position.sleeve.code) == (2, Decimal("1.10"), "VXMF6", "VXMG6", "VRP_CS")
    history = apps.get_model("sleeves", "HistoricalSpreadPosition")._base_manager.filter(id=keys["position"])
    assert sorted(history.values_list("history_type", "note", "history_user__username")) == [
        ("+", "", "olivia"), ("~", "stop moved", "olivia")]

    attempt = apps.get_model("rolls", "RollAttempt")._base_manager.get(pk=keys["attempt"])
    assert attempt.position_id == keys["position"]
    assert attempt.position._meta.label == "sleeves.SpreadPosition"


def _check_the_content_types_moved(apps, keys: dict, before_types: dict) -> None:
    content_type = apps.get_model("contenttypes", "ContentType").objects
    for (old_label, model), new_label in MOVED_CONTENT_TYPES.items():
        assert not content_type.filter(app_label=old_label, model=model).exists(), f"{old_label}.{model} is stale"
        moved = content_type.get(app_label=new_label, model=model)
        assert before_types[moved.pk] == (old_label, model), f"{new_label}.{model} is a new content type"

    group = apps.get_model("auth", "Group").objects.get(pk=keys["group"])
    assert sorted(group.permissions.values_list("pk", flat=True)) == keys["granted"]
    assert sorted(group.permissions.values_list("content_type__app_label", "codename")) == [
        ("dspops", "change_alert"), ("sleeves", "change_spreadposition"), ("sleeves", "view_historicalspreadposition")]

    log_entry = apps.get_model("admin", "LogEntry").objects.get(pk=keys["log_entry"])
    assert (log_entry.content_type.app_label, log_entry.content_type.model) == ("dspops", "alert")
    alert_model = apps.get_model(log_entry.content_type.app_label, log_entry.content_type.model)
    assert alert_model._base_manager.filter(pk=log_entry.object_id).exists()
