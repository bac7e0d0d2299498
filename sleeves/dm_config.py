"""The DM sleeve's config file, in the legacy ``dsp100k_etf_dual_momentum.yaml`` layout.

``load_dm_config`` reads the file, checks every key the legacy layout has (LEGACY.md section
4.1) and returns the values dspops uses. ``dm_parameter_texts`` turns them into the DM settings
of ``sleeves.parameters``. Which keys are DM settings, of what kind, and where each lives in the
file is the DM settings' one declaration (``sleeves.strategies.dm.DM_SETTINGS``, through
``sleeves.parameters``); nothing here repeats it.

Every problem names the file, the line and the dotted key (``sleeve_dm.top_k``), so the
operator can go straight to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from dspops.core.errors import OperatorError
from sleeves import parameters


class DmConfigError(OperatorError, ValueError):
    """The DM config file is unreadable, malformed, or has unknown or mistyped keys.

    ``problems`` holds one line per problem: ``file:line: dotted.key: what is wrong``.
    """

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


# Value kinds. "number" accepts ints and floats; "int" refuses 3.0 (a typo more often than not).
NUMBER, INT, BOOL, TEXT, TIME, SYMBOLS = "number", "whole number", "true/false", "text", "HH:MM time", "list of symbols"

# Every key of the legacy layout, per section. Keys dspops does not use are still checked, so a
# typo there is caught instead of silently ignored. The keys of the DM settings are added below
# from their declaration in sleeves.parameters.
SCHEMA: dict[str, dict[str, str]] = {
    "general": {
        "nlv_target": NUMBER,
        "cash_buffer": NUMBER,
        "margin_cap": NUMBER,
        "allow_external_positions": BOOL,
        "sleeve_a_nav_pct": NUMBER,
        "sleeve_b_nav_pct": NUMBER,
    },
    "ibkr": {
        "host": TEXT,
        "port": INT,
        "client_id": INT,
        "timeout_s": NUMBER,
        "historical_duration": TEXT,
        "historical_bar_size": TEXT,
    },
    "risk": {
        "vol_target": NUMBER,
        "vol_cap": NUMBER,
        "sleeve_a_vol_target": NUMBER,
        "sleeve_b_vol_target": NUMBER,
        "dd_warning": NUMBER,
        "dd_hard_stop": NUMBER,
        "margin_cap": NUMBER,
        "sleeve_correlation_limit": NUMBER,
        "sleeve_correlation_window": INT,
    },
    "sleeve_a": {"enabled": BOOL},
    "sleeve_b": {"enabled": BOOL},
    "sleeve_c": {"enabled": BOOL},
    "sleeve_dm": {
        "enabled": BOOL,
        "rebalance_frequency": TEXT,
        "lookback_days": INT,
    },
    "execution": {
        "window_start": TIME,
        "window_end": TIME,
        "order_timeout_s": INT,
        "max_slippage_bps": NUMBER,
        "retry_count": INT,
    },
    "transaction_costs": {
        "stock_slippage_bps": NUMBER,
        "stock_commission_per_share": NUMBER,
        "etf_slippage_bps": NUMBER,
        "option_commission_per_contract": NUMBER,
        "option_friction_pct": NUMBER,
    },
}

# sleeve parameter key -> dotted config key, from the DM settings' one declaration (sleeves.parameters).
PARAMETER_SOURCES = {spec.key: spec.config_key for spec in parameters.specs_for("DM") if spec.config_key}

# What dspops cannot run without: the DM settings. Everything else in SCHEMA is optional but type-checked.
REQUIRED = tuple(PARAMETER_SOURCES.values())

# The kind each DM setting's key has in the file, from the setting's own kind.
_FILE_KIND = {"decimal": NUMBER, "int": INT, "symbol": TEXT, "symbols": SYMBOLS, "bool": BOOL, "time": TIME}
for _spec in parameters.specs_for("DM"):
    if _spec.config_key:
        _section, _key = _spec.config_key.split(".")
        SCHEMA[_section][_key] = _FILE_KIND[_spec.kind]


@dataclass(frozen=True)
class DmConfig:
    """The checked DM config.

    ``settings`` holds every DM setting by its name (``top_k``, ``nav_fraction``, ``risk_scale``),
    typed as ``sleeves.parameters`` reads it; numbers are Decimals, exactly as written in the file.
    The other fields are the file's own keys dspops looks at.
    """

    path: Path
    settings: dict[str, Any]
    enabled: bool
    rebalance_frequency: str
    lookback_days: int | None
    unknown_keys: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    # Every known key present in the file, by dotted path, typed.
    values: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)


def load_dm_config(path: Path | str, *, strict: bool) -> DmConfig:
    """Read and check a DM config file.

    Unknown sections or keys raise DmConfigError naming each one when ``strict``; otherwise
    they are listed in ``unknown_keys`` and ``warnings``. A missing required key, a wrong
    type, a value out of the settings' bounds or a YAML syntax error always raises
    DmConfigError (every problem at once, each with file, line and key).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DmConfigError([f"{path}: the DM config file does not exist."]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DmConfigError([f"{path}: cannot read the DM config file ({exc})."]) from None

    root, lines = _compose(path, text)
    problems: list[str] = []
    unknown: list[str] = []
    mistyped: set[str] = set()
    values: dict[str, Any] = {}

    def at(dotted: str) -> str:
        return f"{path}:{lines.get(dotted, 1)}: {dotted}"

    for section, section_node in root.items():
        if section not in SCHEMA:
            unknown.append(section)
            continue
        if not isinstance(section_node, dict):
            mistyped.add(section)
            problems.append(f"{at(section)}: expected a mapping of keys under this section, got {_describe(section_node)}.")
            continue
        for key, raw in section_node.items():
            dotted = f"{section}.{key}"
            kind = SCHEMA[section].get(key)
            if kind is None:
                unknown.append(dotted)
                continue
            try:
                values[dotted] = _typed(raw, kind)
            except ValueError as exc:
                mistyped.add(dotted)
                problems.append(f"{at(dotted)}: {exc}")

    for dotted in REQUIRED:
        section = dotted.split(".")[0]
        if dotted not in values and dotted not in mistyped and section not in mistyped:
            where = lines.get(section, 1)
            problems.append(f"{path}:{where}: {dotted}: missing; dspops needs it for the DM sleeve.")

    frequency = values.get("sleeve_dm.rebalance_frequency", "monthly")
    if frequency != "monthly":
        problems.append(
            f"{at('sleeve_dm.rebalance_frequency')}: {frequency!r} is not supported; dspops rebalances "
            "DM on the first NYSE session of each month, so write 'monthly'."
        )

    unknown_messages = [
        f"{at(dotted)}: unknown {'key' if '.' in dotted else 'section'} (not in the DM config layout; "
        "check the spelling or remove it)."
        for dotted in unknown
    ]
    if strict:
        problems.extend(unknown_messages)

    settings: dict[str, Any] = {}
    if not problems:
        # The settings' own bounds and cross-checks (top_k <= universe size, cash not risky, ...).
        try:
            settings = parameters.parse_settings("DM", _texts(values))
        except parameters.ParameterError as exc:
            for line in str(exc).splitlines():
                key = line.split(":", 1)[0]
                source = PARAMETER_SOURCES.get(key)
                if source:
                    problems.append(f"{at(source)}: {line.split(':', 1)[1].strip()}")
                else:
                    problems.append(f"{path}:{lines.get('sleeve_dm', 1)}: {line}")
    if problems:
        raise DmConfigError(problems)

    return DmConfig(
        path=path,
        settings=settings,
        enabled=values.get("sleeve_dm.enabled", True),
        rebalance_frequency=frequency,
        lookback_days=values.get("sleeve_dm.lookback_days"),
        unknown_keys=tuple(unknown),
        warnings=tuple(unknown_messages),
        values=values,
    )


def dm_parameter_texts(cfg: DmConfig) -> dict[str, str]:
    """The DM sleeve settings (``sleeves.parameters`` scope "DM") as stored text."""
    return {spec.key: spec.format(cfg.settings[spec.key]) for spec in parameters.specs_for("DM")}


def _texts(values: dict[str, Any]) -> dict[str, str]:
    texts = {}
    for key, dotted in PARAMETER_SOURCES.items():
        if dotted in values:
            value = values[dotted]
            texts[key] = ",".join(value) if isinstance(value, tuple) else str(value)
    return texts


def _compose(path: Path, text: str) -> tuple[dict[str, Any], dict[str, int]]:
    """Parse the YAML, keeping the line of every section and key (1-based).

    Raises DmConfigError for a syntax error, a top level that is not a mapping, or a key
    given twice (YAML would silently keep the last one).
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise DmConfigError([f"{path}:{line}: not valid YAML: {exc.problem}."]) from None
    except yaml.YAMLError as exc:
        raise DmConfigError([f"{path}:1: not valid YAML: {exc}."]) from None
    if node is None:
        raise DmConfigError([f"{path}:1: the file is empty; expected the DM config sections."])
    if not isinstance(node, yaml.MappingNode):
        raise DmConfigError([f"{path}:{node.start_mark.line + 1}: expected a mapping of sections at the top level."])

    constructor = yaml.SafeLoader("")
    lines: dict[str, int] = {}
    problems: list[str] = []

    def mapping(node: yaml.MappingNode, prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(constructor.construct_object(key_node, deep=True))
            dotted = f"{prefix}{key}"
            line = key_node.start_mark.line + 1
            if key in out:
                problems.append(f"{path}:{line}: {dotted}: given twice (first on line {lines[dotted]}).")
                continue
            lines[dotted] = line
            if not prefix and isinstance(value_node, yaml.MappingNode):
                out[key] = mapping(value_node, f"{key}.")
            else:
                out[key] = constructor.construct_object(value_node, deep=True)
        return out

    try:
        root = mapping(node, "")
    except yaml.YAMLError as exc:
        raise DmConfigError([f"{path}:1: not valid YAML: {exc}."]) from None
    if problems:
        raise DmConfigError(problems)
    return root, lines


def _typed(raw: Any, kind: str) -> Any:
    """The value of one key, checked against its kind. Raises ValueError saying what was expected."""
    if kind == BOOL:
        if isinstance(raw, bool):
            return raw
    elif kind == INT:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
    elif kind == NUMBER:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            value = Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw)
            if not value.is_finite():
                raise ValueError(f"{raw!r} is not a finite number.")
            return value
    elif kind == TEXT:
        if isinstance(raw, str) and raw.strip():
            return raw.strip()
    elif kind == TIME:
        if isinstance(raw, str):
            parts = raw.strip().split(":")
            if len(parts) == 2 and all(p.isdigit() for p in parts) and int(parts[0]) < 24 and int(parts[1]) < 60:
                return raw.strip()
        if isinstance(raw, int) and not isinstance(raw, bool):
            # YAML 1.1 reads an unquoted 10:15 as the base-60 number 615.
            raise ValueError(f"expected a quoted {kind} such as \"10:15\", got the number {raw} (quote the time).")
    elif kind == SYMBOLS:
        if isinstance(raw, list) and raw and all(isinstance(s, str) and s.strip() for s in raw):
            return tuple(s.strip().upper() for s in raw)
        raise ValueError(f"expected a non-empty {kind} (one ticker per '- ' line), got {_describe(raw)}.")
    else:  # pragma: no cover - a schema entry with an unknown kind is a programming error
        raise AssertionError(kind)
    raise ValueError(f"expected a {kind}, got {_describe(raw)}.")


def _describe(raw: Any) -> str:
    if raw is None:
        return "nothing (empty value)"
    names = {bool: "true/false", int: "whole number", float: "number", str: "text", list: "list", dict: "mapping"}
    return f"{names.get(type(raw), type(raw).__name__)} {raw!r}"
