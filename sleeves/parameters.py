"""The sleeve settings the operator may edit: their types, bounds and meaning.

No database. Values are stored as text rows (SleeveParameter) so each one has its own history;
this registry says how to read and validate them, each value read as one typed cell of the
kernel's tabular reader (dspops.core.tabular: the same Django form fields as the files). The starting values live in
``config/*.yaml`` and are loaded by ``bootstrap``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from dspops.core import tabular
from dspops.core.errors import OperatorError
from sleeves.strategies import dm

BOOK = "BOOK"  # book-wide settings (vol-target overlay, alert horizons): no sleeve


class ParameterError(OperatorError, ValueError):
    """A parameter value is unknown, malformed or out of bounds. The message says which."""


@dataclass(frozen=True)
class ParameterSpec:
    key: str
    kind: str  # "decimal" | "int" | "bool" | "symbol" | "symbols" | "time"
    description: str
    unit: str = ""
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    config_key: str = ""  # where the legacy config file holds its starting value ("sleeve_dm.top_k"), if anywhere

    def parse(self, text: str) -> Any:
        """Turn stored text into a typed value. Raises ParameterError naming the key."""
        raw = (text or "").strip()
        if raw == "":
            raise ParameterError(f"{self.key}: a value is required ({self.description}).")
        try:
            value = self.column.convert(raw)
        except tabular.CellError as exc:
            raise ParameterError(f"{exc}.") from None
        if self.kind == "symbols" and len(set(value)) != len(value):
            raise ParameterError(f"{self.key}: a symbol is listed twice in {raw!r}.")
        if self.kind in {"decimal", "int"}:
            if self.minimum is not None and value < self.minimum:
                raise ParameterError(f"{self.key}: {raw} is below the minimum {self.minimum}.")
            if self.maximum is not None and value > self.maximum:
                raise ParameterError(f"{self.key}: {raw} is above the maximum {self.maximum}.")
        return value

    @property
    def column(self) -> tabular.Column:
        """The setting read as one typed cell of the kernel's tabular reader (the same fields as the files)."""
        invalid = {"invalid": f"is not a valid {self.kind_label} ({self.description})"}
        field = {
            "decimal": lambda: forms.DecimalField(error_messages=invalid),
            "int": lambda: tabular.WholeNumberField(error_messages={**invalid, "max_digits": invalid["invalid"]}),
            "bool": lambda: tabular.TrueFalseField(error_messages=invalid),
            "symbol": lambda: forms.RegexField(SYMBOL, error_messages=invalid),
            "symbols": lambda: SymbolListField(error_messages=invalid),
            "time": lambda: TimeOfDayField(error_messages=invalid),
        }[self.kind]()
        return tabular.Column(self.key, field, label=f"{self.key}:", upper=self.kind in {"symbol", "symbols"})

    @property
    def kind_label(self) -> str:
        return {
            "decimal": "number",
            "int": "whole number",
            "bool": "true/false",
            "symbol": "ticker symbol",
            "symbols": "comma-separated list of ticker symbols",
            "time": "time of day (HH:MM, New York)",
        }[self.kind]

    def format(self, value: Any) -> str:
        """Turn a typed value into its stored text."""
        if self.kind == "bool":
            return "true" if value else "false"
        if self.kind == "symbols":
            return ",".join(value)
        return str(value)


SYMBOL = r"^(?=.*[A-Z0-9])[A-Z0-9.]{1,12}$"  # a ticker: letters, digits and dots, at most 12


class SymbolListField(forms.Field):
    """Comma-separated ticker symbols, at least one: "SPY,EFA" -> ("SPY", "EFA")."""

    def to_python(self, value):
        symbols = tuple(part.strip().upper() for part in str(value).split(",") if part.strip())
        if not symbols or not all(re.fullmatch(SYMBOL, symbol) for symbol in symbols):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return symbols


class TimeOfDayField(forms.Field):
    """A time of day as HH:MM (9:30 reads as 09:30), kept as that text."""

    def to_python(self, value):
        match = re.fullmatch(r"([0-9]{1,2}):([0-9]{2})", str(value).strip())
        if match is None or int(match.group(1)) >= 24 or int(match.group(2)) >= 60:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return f"{int(match.group(1)):02d}:{match.group(2)}"


def _d(text: str) -> Decimal:
    return Decimal(text)


_SPECS: dict[str, tuple[ParameterSpec, ...]] = {
    BOOK: (
        ParameterSpec("vol_target_annual", "decimal", "Vol-target overlay: annualised SPY vol target",
                      "fraction", _d("0.01"), _d("1")),
        ParameterSpec("vol_lookback_returns", "int", "Vol-target overlay: daily log returns used",
                      "returns", _d("5"), _d("252")),
        ParameterSpec("vol_multiplier_min", "decimal", "Vol-target overlay: lowest multiplier",
                      "x", _d("0"), _d("5")),
        ParameterSpec("vol_multiplier_max", "decimal", "Vol-target overlay: highest multiplier",
                      "x", _d("0"), _d("5")),
        ParameterSpec("vol_state_stale_sessions", "int",
                      "Vol-target state is stale after this many NYSE sessions", "sessions", _d("1"), _d("20")),
        ParameterSpec("input_max_age_sessions", "int",
                      "A daily input (VIX, VVIX, SPY close) is stale when older than this many sessions", "sessions",
                      _d("0"), _d("20")),
        ParameterSpec("roll_alert_sessions", "int",
                      "Alert when a roll-by date is this many CFE sessions away or fewer", "sessions",
                      _d("0"), _d("20")),
        ParameterSpec("fill_price_warning_pct", "decimal",
                      "A typed fill whose price is further than this from the last stored quote needs the operator's "
                      "confirmation", "%", _d("0"), _d("1000")),
    ),
    "VRP_ERP": (
        ParameterSpec("symbol", "symbol", "The instrument this sleeve holds"),
        ParameterSpec("base_capital_usd", "decimal", "Base capital sized by the VIX regime", "USD",
                      _d("0"), _d("100000000")),
        ParameterSpec("elevated_vix", "decimal", "VIX at or above this is ELEVATED", "VIX", _d("0"), _d("200")),
        ParameterSpec("high_vix", "decimal", "VIX at or above this is HIGH", "VIX", _d("0"), _d("200")),
        ParameterSpec("crisis_vix", "decimal", "VIX at or above this is CRISIS", "VIX", _d("0"), _d("200")),
        ParameterSpec("calm_multiplier", "decimal", "Exposure multiplier in CALM", "x", _d("0"), _d("2")),
        ParameterSpec("elevated_multiplier", "decimal", "Exposure multiplier in ELEVATED", "x", _d("0"), _d("2")),
        ParameterSpec("high_multiplier", "decimal", "Exposure multiplier in HIGH", "x", _d("0"), _d("2")),
        ParameterSpec("crisis_multiplier", "decimal", "Exposure multiplier in CRISIS", "x", _d("0"), _d("2")),
        ParameterSpec("drift_rebalance_pct", "decimal", "Rebalance when share drift exceeds this", "%",
                      _d("0"), _d("100")),
        ParameterSpec("regime_confirm_sessions", "int",
                      "A regime change is confirmed after this many sessions in the new regime",
                      "sessions", _d("1"), _d("20")),
    ),
    "VRP_CS": (
        ParameterSpec("contract_root", "symbol", "Futures root of the spread legs (VXM)"),
        ParameterSpec("multiplier", "int", "Contract multiplier", "USD/point", _d("1"), _d("10000")),
        ParameterSpec("roll_sessions_before", "int", "Roll-by is this many CFE sessions before settlement",
                      "sessions", _d("1"), _d("20")),
        ParameterSpec("gate_open_threshold", "decimal", "Gate opens at a score at or above this", "score",
                      _d("-1"), _d("1")),
        ParameterSpec("gate_closed_threshold", "decimal", "Gate closes at a score below this", "score",
                      _d("-1"), _d("1")),
        ParameterSpec("gate_hysteresis", "decimal", "Gate hysteresis band", "score", _d("0"), _d("1")),
        ParameterSpec("gate_min_sessions", "int", "Sessions the gate stays in a state before it may change",
                      "sessions", _d("0"), _d("20")),
        ParameterSpec("max_vix", "decimal", "Pre-roll: VIX must be below this", "VIX", _d("0"), _d("200")),
        ParameterSpec("min_spread", "decimal", "Pre-roll: VX2 - VX1 must be above this", "points",
                      _d("-10"), _d("10")),
        ParameterSpec("max_leg_width", "decimal", "Pre-roll: VX1 and VX2 bid/ask width at most", "points",
                      _d("0"), _d("10")),
        ParameterSpec("max_new_back_width", "decimal", "Pre-roll: new back-month bid/ask width at most",
                      "points", _d("0"), _d("10")),
        ParameterSpec("max_combo_width", "decimal", "Pre-roll: combo market width at most", "points",
                      _d("0"), _d("10")),
        ParameterSpec("min_margin_headroom_usd", "decimal", "Pre-roll: excess liquidity at least", "USD",
                      _d("0"), _d("100000000")),
        ParameterSpec("max_quote_age_seconds", "int", "Pre-roll: quotes must be younger than this",
                      "seconds", _d("1"), _d("3600")),
        ParameterSpec("go_valid_minutes", "int", "A GO verdict allows execution for this long; then re-check",
                      "minutes", _d("1"), _d("60")),
        ParameterSpec("fill_warning_minutes", "int", "Warn when a roll leg is unfilled after this long",
                      "minutes", _d("1"), _d("240")),
        ParameterSpec("limit_buffer", "decimal", "Combo limit = mid plus/minus this", "points",
                      _d("0"), _d("5")),
        ParameterSpec("default_stop_multiple", "decimal", "Default stop = entry spread x this (below entry)",
                      "x", _d("0"), _d("1")),
        ParameterSpec("default_take_profit_multiple", "decimal",
                      "Default take-profit = entry spread x this (above entry)", "x", _d("1"), _d("10")),
        ParameterSpec("near_level_points", "decimal", "Alert when the spread is this close to stop or TP",
                      "points", _d("0"), _d("5")),
        ParameterSpec("leg_price_tolerance_points", "decimal",
                      "A roll leg fill further than this outside the leg's bid/ask needs the operator's confirmation",
                      "points", _d("0"), _d("10")),
        ParameterSpec("combo_price_tolerance_points", "decimal",
                      "A roll combo price (from its leg fills) further than this from the ticket's limit needs the "
                      "operator's confirmation", "points", _d("0"), _d("10")),
    ),
    # The DM settings are declared once, on the pure DmSettings (sleeves.strategies.dm), with where the
    # config file holds each one (sleeves.dm_config reads that file by these keys).
    "DM": tuple(
        ParameterSpec(s.key, s.kind, s.description, s.unit, s.minimum, s.maximum, config_key=s.config_key)
        for s in dm.DM_SETTINGS
    ),
}

SCOPES = tuple(_SPECS)


def specs_for(scope: str) -> tuple[ParameterSpec, ...]:
    try:
        return _SPECS[scope]
    except KeyError:
        raise ParameterError(f"Unknown settings scope {scope!r}; expected one of {', '.join(SCOPES)}.") from None


def spec(scope: str, key: str) -> ParameterSpec:
    for candidate in specs_for(scope):
        if candidate.key == key:
            return candidate
    known = ", ".join(s.key for s in specs_for(scope))
    raise ParameterError(f"{scope} has no setting {key!r}. Known settings: {known}.")


def parse_settings(scope: str, texts: dict[str, str]) -> dict[str, Any]:
    """Parse and cross-check a whole scope. Every key must be present; none may be unknown.

    Raises ParameterError listing every problem, one per line.
    """
    problems: list[str] = []
    values: dict[str, Any] = {}
    known = {s.key for s in specs_for(scope)}
    for key in sorted(set(texts) - known):
        problems.append(f"{scope} has no setting {key!r}.")
    for item in specs_for(scope):
        if item.key not in texts:
            problems.append(f"{scope} is missing the setting {item.key!r} ({item.description}).")
            continue
        try:
            values[item.key] = item.parse(texts[item.key])
        except ParameterError as exc:
            problems.append(str(exc))
    if not problems:
        problems.extend(cross_check(scope, values))
    if problems:
        raise ParameterError("\n".join(problems))
    return values


def cross_check(scope: str, values: dict[str, Any]) -> list[str]:
    """Rules that tie several settings together."""
    problems = []
    if scope == "VRP_ERP":
        if not values["elevated_vix"] < values["high_vix"] < values["crisis_vix"]:
            problems.append("VRP_ERP: regime thresholds must rise: elevated_vix < high_vix < crisis_vix.")
    elif scope == "VRP_CS":
        if not values["gate_closed_threshold"] < values["gate_open_threshold"]:
            problems.append("VRP_CS: gate_closed_threshold must be below gate_open_threshold.")
    elif scope == "BOOK":
        if not values["vol_multiplier_min"] <= values["vol_multiplier_max"]:
            problems.append("BOOK: vol_multiplier_min must not exceed vol_multiplier_max.")
    elif scope == "DM":
        if values["cash_symbol"] in values["risky_universe"]:
            problems.append("DM: the cash symbol must not also be in the risky universe.")
        if values["top_k"] > len(values["risky_universe"]):
            problems.append("DM: top_k is larger than the risky universe.")
    return problems
