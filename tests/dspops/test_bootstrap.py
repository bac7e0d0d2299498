"""bootstrap is idempotent and never overwrites what an operator edited."""

import io
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command

from dspops.bootstrap import BootstrapError, bootstrap
from sleeves.models import Sleeve, SleeveParameter
from sleeves.selectors import sleeve_settings


def row_counts() -> dict[str, int]:
    labels = ("dspops", "sleeves", "rolls", "digests", "auth")
    return {m._meta.label: m.objects.count() for label in labels for m in apps.get_app_config(label).get_models()}


def run_bootstrap(*args) -> str:
    out = io.StringIO()
    call_command("bootstrap", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_bootstrap_twice_leaves_identical_row_counts():
    first = run_bootstrap()
    counts = row_counts()
    second = run_bootstrap()
    assert row_counts() == counts
    assert "created sleeve VRP_CS" in first
    assert second.startswith("bootstrap: nothing to create")
    assert counts["sleeves.Sleeve"] == 3 and counts["auth.Group"] == 2


@pytest.mark.django_db
def test_the_operator_password_is_printed_once():
    first = run_bootstrap()
    second = run_bootstrap()
    assert "user: operator" in first and "password: " in first
    assert "password" not in second
    user = get_user_model().objects.get()
    password = first.split("password: ")[1].split()[0]
    assert user.check_password(password)
    assert list(user.groups.values_list("name", flat=True)) == ["Operator"]


@pytest.mark.django_db
def test_an_edited_setting_survives_bootstrap():
    bootstrap(create_operator=False)
    SleeveParameter.objects.filter(sleeve__code="VRP_ERP", key="base_capital_usd").update(value="12500")
    SleeveParameter.objects.filter(sleeve__code="DM", key="top_k").update(value="2")
    Sleeve.objects.filter(code="DM").update(name="Dual momentum (renamed)")
    bootstrap(create_operator=False)
    assert sleeve_settings("VRP_ERP")["base_capital_usd"] == 12500
    assert sleeve_settings("DM")["top_k"] == 2
    assert Sleeve.objects.get(code="DM").name == "Dual momentum (renamed)"


@pytest.mark.django_db
def test_a_deleted_setting_is_recreated_from_the_config():
    bootstrap(create_operator=False)
    SleeveParameter.objects.filter(sleeve__code="VRP_CS", key="max_vix").delete()
    report = bootstrap(create_operator=False)
    assert report.created == ["setting VRP_CS.max_vix = 30"]


@pytest.mark.django_db
def test_the_viewer_group_can_only_view(booted):
    viewer = Group.objects.get(name="Viewer")
    actions = {codename.split("_")[0] for codename in viewer.permissions.values_list("codename", flat=True)}
    assert actions == {"view"}
    operator = set(Group.objects.get(name="Operator").permissions.values_list("codename", flat=True))
    assert {"add_fill", "change_spreadposition", "change_sleeveparameter", "view_monitorrun"} <= operator
    assert "change_fill" not in operator and "delete_fill" not in operator


@pytest.mark.django_db
def test_invalid_config_files_are_refused_before_anything_is_written(tmp_path, settings):
    for name in ("sleeves.yaml", "instruments.yaml", "dsp100k_etf_dual_momentum.yaml"):
        (tmp_path / name).write_text((settings.CONFIG_DIR / name).read_text())
    text = (tmp_path / "sleeves.yaml").read_text().replace('crisis_vix: "30"', 'crisis_vix: "18"')
    (tmp_path / "sleeves.yaml").write_text(text)
    with pytest.raises(BootstrapError, match="regime thresholds must rise"):
        bootstrap(config_dir=tmp_path)
    assert Sleeve.objects.count() == 0


@pytest.mark.django_db
def test_demo_history_loads_once_and_shows_positions():
    run_bootstrap("--demo")
    counts = row_counts()
    run_bootstrap("--demo")
    assert row_counts() == counts
    from sleeves.selectors import positions_by_sleeve

    held = {(p.sleeve_code, p.instrument.local_symbol): p.quantity for p in positions_by_sleeve()}
    assert held[("VRP_ERP", "SPY")] == 11 and held[("DM", "SHY")] == 500
    from sleeves.models import SpreadPosition

    position = SpreadPosition.objects.get(is_active=True)
    assert (position.entry_spread, position.stop_loss_spread, position.take_profit_spread) == (
        Decimal("0.65"), Decimal("0.32"), Decimal("1.30"))


@pytest.mark.django_db
def test_the_demo_book_plus_the_simulators_executions_matches_the_broker(broker):
    from datetime import timedelta

    from dspops.core import clock
    from sleeves.fill_import import sync_fills
    from sleeves.reconcile import reconcile

    run_bootstrap("--demo")
    broker("calm_contango")
    report = sync_fills(since=clock.now() - timedelta(days=7), role="test")
    assert report.created == 4 and report.unattributed == []
    result = reconcile(role="test")
    assert result.ok and result.breaks == []
