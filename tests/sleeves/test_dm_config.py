"""The DM config file in the legacy yaml layout: loading, strict mode, errors, settings texts."""

from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from sleeves import parameters
from sleeves.dm_config import DmConfigError, dm_parameter_texts, load_dm_config

REPO_CONFIG = Path(settings.BASE_DIR) / "config" / "dsp100k_etf_dual_momentum.yaml"

MINIMAL = """general:
  risk_scale: 0.05
  sleeve_dm_nav_pct: 0.60
sleeve_dm:
  risky_universe: [SPY, EFA, TLT]
  cash_symbol: SHY
  top_k: 2
  min_momentum: 0.0
  momentum_window_days: 252
  momentum_skip_days: 21
  vol_target: 0.08
  vol_lookback_days: 63
  max_leverage: 1.5
  min_order_notional: 100.0
"""


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "dm.yaml"
    path.write_text(text)
    return path


def problems(path: Path, *, strict: bool = True) -> list[str]:
    with pytest.raises(DmConfigError) as caught:
        load_dm_config(path, strict=strict)
    return caught.value.problems


def test_the_repository_config_loads_in_strict_mode_with_the_legacy_defaults():
    cfg = load_dm_config(REPO_CONFIG, strict=True)

    dm = cfg.settings
    assert dm["risky_universe"] == ("SPY", "EFA", "EEM", "IEF", "TLT", "TIP", "GLD", "PDBC", "UUP")
    assert dm["cash_symbol"] == "SHY"
    assert (dm["top_k"], dm["momentum_window_days"], dm["momentum_skip_days"], dm["vol_lookback_days"]) == (
        3, 252, 21, 63)
    assert (dm["min_momentum"], dm["vol_target"], dm["max_leverage"]) == (Decimal("0"), Decimal("0.08"),
                                                                         Decimal("1.5"))
    assert dm["min_order_notional"] == Decimal("100")
    assert (dm["nav_fraction"], dm["risk_scale"]) == (Decimal("0.90"), Decimal("1"))  # general.sleeve_dm_nav_pct
    assert cfg.rebalance_frequency == "monthly" and cfg.lookback_days == 420
    assert cfg.unknown_keys == ()
    assert cfg.values["ibkr.port"] == 7497
    assert cfg.values["execution.window_end"] == "10:15"
    assert cfg.values["transaction_costs.option_friction_pct"] == Decimal("0.05")


def test_the_repository_config_has_every_key_of_the_legacy_layout():
    cfg = load_dm_config(REPO_CONFIG, strict=True)

    assert len(cfg.values) == 49  # LEGACY.md section 4.1: all sections, all keys


def test_the_real_legacy_config_loads_in_strict_mode_too(shared_dir):
    legacy = load_dm_config(shared_dir / "legacy" / "config" / "dsp100k_etf_dual_momentum.yaml", strict=True)

    assert dm_parameter_texts(legacy) == dm_parameter_texts(load_dm_config(REPO_CONFIG, strict=True))


def test_strict_mode_names_each_unknown_key_with_its_dotted_path(tmp_path):
    text = (
        MINIMAL.replace("  risk_scale: 0.05\n", "  risk_scale: 0.05\n  bar: true\n")
        .replace("  top_k: 2\n", "  top_k: 2\n  foo: 1\n")
        + "extras:\n  a: 1\n"
    )
    path = write(tmp_path, text)

    found = problems(path)

    assert found == [
        f"{path}:3: general.bar: unknown key (not in the DM config layout; check the spelling or remove it).",
        f"{path}:9: sleeve_dm.foo: unknown key (not in the DM config layout; check the spelling or remove it).",
        f"{path}:17: extras: unknown section (not in the DM config layout; check the spelling or remove it).",
    ]


def test_non_strict_mode_returns_unknown_keys_as_warnings(tmp_path):
    path = write(tmp_path, MINIMAL + "  foo: 1\nextras:\n  a: 1\n")

    cfg = load_dm_config(path, strict=False)

    assert cfg.unknown_keys == ("sleeve_dm.foo", "extras")
    assert len(cfg.warnings) == 2
    assert "sleeve_dm.foo" in cfg.warnings[0] and str(path) in cfg.warnings[0]
    assert cfg.settings["top_k"] == 2


def test_a_wrong_type_names_the_key_and_the_file(tmp_path):
    path = write(tmp_path, MINIMAL.replace("top_k: 2", 'top_k: "two"'))

    assert problems(path, strict=False) == [f"{path}:7: sleeve_dm.top_k: expected a whole number, got text 'two'."]


def test_a_fractional_whole_number_is_refused(tmp_path):
    path = write(tmp_path, MINIMAL.replace("vol_lookback_days: 63", "vol_lookback_days: 63.5"))

    assert problems(path) == [f"{path}:12: sleeve_dm.vol_lookback_days: expected a whole number, got number 63.5."]


def test_a_wrong_type_in_a_section_dspops_does_not_use_is_still_refused(tmp_path):
    path = write(tmp_path, MINIMAL + "ibkr:\n  port: '7497'\n")

    assert problems(path) == [f"{path}:16: ibkr.port: expected a whole number, got text '7497'."]


def test_a_missing_required_dm_key_names_the_key_and_the_file(tmp_path):
    path = write(tmp_path, MINIMAL.replace("  max_leverage: 1.5\n", "").replace("  risk_scale: 0.05\n", ""))

    found = problems(path)

    assert any(p.startswith(f"{path}:") and "sleeve_dm.max_leverage: missing" in p for p in found)
    assert any(p.startswith(f"{path}:") and "general.risk_scale: missing" in p for p in found)
    assert len(found) == 2


def test_a_missing_dm_section_names_every_dm_key(tmp_path):
    path = write(tmp_path, "general:\n  risk_scale: 1.0\n  sleeve_dm_nav_pct: 0.9\n")

    found = problems(path)

    assert len(found) == 10
    assert all("missing" in p for p in found)


def test_an_unquoted_time_is_refused_with_a_hint_to_quote_it(tmp_path):
    path = write(tmp_path, MINIMAL + "execution:\n  window_end: 10:15\n")

    (problem,) = problems(path)
    assert problem.startswith(f"{path}:16: execution.window_end:")
    assert "615" in problem and "quote" in problem


def test_a_value_outside_the_settings_bounds_is_refused(tmp_path):
    path = write(tmp_path, MINIMAL.replace("top_k: 2", "top_k: 0"))

    assert problems(path) == [f"{path}:7: sleeve_dm.top_k: 0 is below the minimum 1."]


def test_a_cash_symbol_inside_the_risky_universe_is_refused(tmp_path):
    path = write(tmp_path, MINIMAL.replace("cash_symbol: SHY", "cash_symbol: TLT"))

    (problem,) = problems(path)
    assert "cash symbol must not also be in the risky universe" in problem and str(path) in problem


def test_a_rebalance_frequency_other_than_monthly_is_refused(tmp_path):
    path = write(tmp_path, MINIMAL + "  rebalance_frequency: weekly\n")

    (problem,) = problems(path)
    assert "sleeve_dm.rebalance_frequency" in problem and "'weekly'" in problem


def test_a_key_given_twice_is_refused(tmp_path):
    path = write(tmp_path, MINIMAL + "  top_k: 3\n")

    assert problems(path) == [f"{path}:15: sleeve_dm.top_k: given twice (first on line 7)."]


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path):
    path = write(tmp_path, MINIMAL + "  bad: [unclosed\n")

    (problem,) = problems(path)
    assert problem.startswith(f"{path}:") and "not valid YAML" in problem


def test_a_missing_file_is_a_config_error(tmp_path):
    (problem,) = problems(tmp_path / "nope.yaml")
    assert "does not exist" in problem


def test_dm_parameter_texts_cover_every_dm_setting_and_parse(tmp_path):
    cfg = load_dm_config(write(tmp_path, MINIMAL), strict=True)

    texts = dm_parameter_texts(cfg)

    assert set(texts) == {spec.key for spec in parameters.specs_for("DM")}
    assert texts["nav_fraction"] == "0.6"  # from general.sleeve_dm_nav_pct
    assert texts["risk_scale"] == "0.05"  # from general.risk_scale
    assert texts["risky_universe"] == "SPY,EFA,TLT"
    assert parameters.parse_settings("DM", texts)["top_k"] == 2
