"""The kernel's alert registry: every code raised anywhere is registered once, with its advice."""

import ast
import pathlib

import pytest
from django.core import mail

from dspops.core import alerts
from dspops.core.models import Alert, Severity

ROOT = pathlib.Path(__file__).resolve().parents[2]
APPS = ("dspops", "sleeves", "rolls", "digests")


def codes_in_source() -> dict[str, list[str]]:
    """Every literal `code=` given to raise_alert / resolve_alerts / Finding in the app code, and where."""
    found: dict[str, list[str]] = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    for keyword in node.keywords:
                        if keyword.arg == "code" and isinstance(keyword.value, ast.Constant) \
                                and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
                                    "raise_alert", "resolve_alerts"):
                            found.setdefault(keyword.value.value, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_alert_code_raised_in_the_code_is_registered():
    found = codes_in_source()
    assert found, "the scan found no raise_alert(code=...) at all: it is broken"
    unregistered = {code: where for code, where in found.items() if code not in alerts.REGISTRY}
    assert unregistered == {}


def test_every_registered_code_has_a_title_a_valid_severity_advice_and_what_resolves_it():
    for code, kind in alerts.REGISTRY.items():
        assert kind.code == code
        assert kind.severity in Severity.values, code
        assert kind.title and kind.advice and kind.resolved_when, code


def test_an_unregistered_code_is_refused_before_anything_is_written(db):
    with pytest.raises(ValueError, match="Unknown alert code 'made_up'"):
        alerts.raise_alert(code="made_up", message="m")
    with pytest.raises(ValueError, match="Unknown alert code"):
        alerts.resolve_alerts(code="made_up")
    assert not Alert.objects.exists()


def test_the_registered_severity_is_the_default(db):
    assert alerts.raise_alert(code="orphan_leg", message="m", subject="roll-1").severity == Severity.CRITICAL
    assert alerts.raise_alert(code="roll_due", message="m", subject="VXMZ6").severity == Severity.WARNING


def test_a_critical_alert_is_emailed_once_by_the_site_after_its_transaction_commits(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        alert = alerts.raise_alert(code="orphan_leg", message="Close VXMF7.", subject="roll-1")
    with django_capture_on_commit_callbacks(execute=True):
        alerts.raise_alert(code="orphan_leg", message="Close VXMF7.", subject="roll-1")
    assert [m.subject for m in mail.outbox] == ["[dspops CRITICAL] orphan_leg: roll-1"]
    alert.refresh_from_db()
    assert alert.emailed_at is not None and alert.occurrences == 2


def test_a_warning_is_not_emailed(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        alerts.raise_alert(code="roll_due", message="Roll by Wed.", subject="VXMZ6")
    assert mail.outbox == []
