"""Bootstrap: make a database ready to run, without ever overwriting what an operator edited.

Safe to run on every start. Each step creates only what is missing and reports it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import yaml
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction

from dspops.core import calendars, clock
from dspops.core.models import Instrument
from dspops.core import vx
from dspops.core.instruments import vxm_instrument
from dspops.schedules import setup_schedules
from rolls.roll_calendar import generate_roll_calendar
from sleeves import parameters
from sleeves.dm_config import dm_parameter_texts, load_dm_config
from sleeves.models import Sleeve, SleeveParameter
from dspops.core.errors import OperatorError

OPERATOR_GROUP = "Operator"
VIEWER_GROUP = "Viewer"

# What the Operator may do beyond viewing: record fills and quotes, edit the config and the
# settings, plan rolls, acknowledge alerts. Fills are add-only: corrections are reversals.
OPERATOR_PERMISSIONS = {
    "dspops": {"instrument": ["add", "change"], "quotesnapshot": ["add"], "brokersnapshot": ["add"], "alert": ["change"]},
    "sleeves": {"fill": ["add"], "sleeve": ["change"], "sleeveparameter": ["change"], "monitorrun": ["run_tasks"],
                "spreadposition": ["add", "change"]},
    "rolls": {"rollcycle": ["change"], "rollattempt": ["add", "change"]},
}
VIEWABLE_APPS = ("dspops", "sleeves", "rolls", "digests", "django_q")


class BootstrapError(OperatorError):
    """The config files are missing or invalid. The message names the file and the problem."""


@dataclass
class BootstrapReport:
    created: list[str] = field(default_factory=list)
    operator_password: str | None = None

    def add(self, what: str) -> None:
        self.created.append(what)


def _read_yaml(path: Path) -> dict:
    try:
        with path.open() as handle:
            content = yaml.safe_load(handle)
    except FileNotFoundError:
        raise BootstrapError(f"{path} is missing; it is part of the repository.") from None
    except yaml.YAMLError as exc:
        raise BootstrapError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(content, dict):
        raise BootstrapError(f"{path}: expected a mapping at the top level.")
    return content


@transaction.atomic
def bootstrap(*, config_dir: Path | None = None, create_operator: bool = True) -> BootstrapReport:
    config_dir = config_dir or settings.CONFIG_DIR
    report = BootstrapReport()
    _sleeves(config_dir, report)
    _instruments(config_dir, report)
    _roll_calendar(report)
    _groups(report)
    _schedules(report)
    if create_operator:
        _operator(report)
    return report


def _sleeves(config_dir: Path, report: BootstrapReport) -> None:
    config = _read_yaml(config_dir / "sleeves.yaml")
    texts_by_scope: dict[str, dict[str, str]] = {
        scope: {key: str(value) for key, value in (values or {}).items()}
        for scope, values in (config.get("settings") or {}).items()
    }
    dm = load_dm_config(config_dir / "dsp100k_etf_dual_momentum.yaml", strict=True)
    texts_by_scope["DM"] = dm_parameter_texts(dm)
    for scope, texts in texts_by_scope.items():
        try:
            parameters.parse_settings(scope, texts)
        except parameters.ParameterError as exc:
            raise BootstrapError(f"{config_dir}: settings for {scope} are invalid:\n{exc}") from None

    for code, spec in (config.get("sleeves") or {}).items():
        sleeve, created = Sleeve.objects.get_or_create(
            code=code,
            defaults={
                "name": spec["name"],
                "description": spec.get("description", ""),
                "order_ref_prefix": spec["order_ref_prefix"],
            },
        )
        if created:
            report.add(f"sleeve {code}")
    for scope, texts in texts_by_scope.items():
        sleeve = None if scope == parameters.BOOK else Sleeve.objects.get(code=scope)
        present = set(SleeveParameter.objects.filter(sleeve=sleeve).values_list("key", flat=True))
        for key, value in texts.items():
            if key not in present:
                SleeveParameter.objects.create(sleeve=sleeve, key=key, value=value)
                report.add(f"setting {scope}.{key} = {value}")


def _instruments(config_dir: Path, report: BootstrapReport) -> None:
    config = _read_yaml(config_dir / "instruments.yaml")
    for row in config.get("instruments") or []:
        local_symbol = row.get("local_symbol", row["symbol"])
        _, created = Instrument.objects.get_or_create(
            sec_type=row["sec_type"],
            exchange=row["exchange"],
            local_symbol=local_symbol,
            defaults={
                "symbol": row["symbol"],
                "primary_exchange": row.get("primary_exchange", ""),
                "currency": row.get("currency", "USD"),
                "multiplier": Decimal(str(row.get("multiplier", 1))),
                "description": row.get("description", ""),
            },
        )
        if created:
            report.add(f"instrument {local_symbol}")
    n = _roll_sessions()
    for cm in vx.front_contracts(clock.current_session(exchange=calendars.CFE), roll_sessions=n):
        before = Instrument.objects.filter(local_symbol=cm.local_symbol("VXM"), exchange="CFE").exists()
        vxm_instrument(cm)
        if not before:
            report.add(f"instrument {cm.local_symbol('VXM')}")


def _roll_sessions() -> int:
    return parameters.spec("VRP_CS", "roll_sessions_before").parse(
        SleeveParameter.objects.get(sleeve__code="VRP_CS", key="roll_sessions_before").value
    )


def _roll_calendar(report: BootstrapReport) -> None:
    year = clock.trading_date().year
    result = generate_roll_calendar(from_year=year, to_year=year + 1)
    if result.created:
        report.add(f"{result.created} roll calendar entries ({year}-{year + 1})")


def _groups(report: BootstrapReport) -> None:
    view = []
    for app_label in VIEWABLE_APPS:
        for model in apps.get_app_config(app_label).get_models():
            view.append((app_label, model._meta.model_name, "view"))
    operator_extra = [
        (app_label, model, action)
        for app_label, models in OPERATOR_PERMISSIONS.items()
        for model, actions in models.items()
        for action in actions
    ]
    for name, wanted in ((VIEWER_GROUP, view), (OPERATOR_GROUP, view + operator_extra)):
        group, created = Group.objects.get_or_create(name=name)
        if created:
            report.add(f"group {name}")
        perms = [
            Permission.objects.get(content_type__app_label=app_label,
                                   codename=action if action == "run_tasks" else f"{action}_{model}")
            for app_label, model, action in wanted
        ]
        group.permissions.add(*perms)


def _schedules(report: BootstrapReport) -> None:
    created = setup_schedules().created
    if created:
        report.add(f"{len(created)} task schedules")


def _operator(report: BootstrapReport) -> None:
    user_model = get_user_model()
    if user_model.objects.exists():
        return
    password = secrets.token_urlsafe(12)
    user = user_model.objects.create_user(username="operator", password=password, is_staff=True)
    user.groups.add(Group.objects.get(name=OPERATOR_GROUP))
    report.add("user operator (group Operator)")
    report.operator_password = password
