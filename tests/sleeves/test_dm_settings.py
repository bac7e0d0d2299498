"""The DM settings are declared once: on the pure DmSettings (sleeves.strategies.dm).

Each structure that names the DM settings is derived from that declaration, and each test here
enumerates one of them against it: the stored, editable settings (sleeves.parameters), the config
file's layout and DmConfig (sleeves.dm_config), the repository's config file, the legacy defaults
the strategy's tests use, and the settings the DM service hands the strategy. Adding a setting is
one field on DmSettings (with its ``_setting``) plus its value in config/dsp100k_etf_dual_momentum.yaml;
a test here fails until both are there.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from sleeves import dm_config, parameters
from sleeves.strategies import dm

REPO_CONFIG = Path(settings.BASE_DIR) / "config" / "dsp100k_etf_dual_momentum.yaml"
DECLARED = {s.key: s for s in dm.DM_SETTINGS}


def strategy_settings(values: dict) -> dm.DmSettings:
    """DmSettings from every DM setting's value (the risk scale goes to the plan's inputs instead)."""
    return dm.DmSettings(**{key: value for key, value in values.items() if key != dm.RISK_SCALE.key})


def test_every_field_of_dm_settings_declares_its_setting_and_the_risk_scale_follows():
    names = [f.name for f in dataclasses.fields(dm.DmSettings)]
    assert list(DECLARED) == [*names, "risk_scale"]
    assert all(isinstance(f.metadata.get("setting"), dm.Setting) for f in dataclasses.fields(dm.DmSettings))
    assert all(s.kind in {"decimal", "int", "symbol", "symbols"} and s.description and s.config_key
               for s in dm.DM_SETTINGS)


def test_the_stored_dm_settings_are_the_declared_ones():
    stored = parameters.specs_for("DM")
    assert [s.key for s in stored] == list(DECLARED)
    for spec in stored:
        declared = DECLARED[spec.key]
        assert (spec.kind, spec.description, spec.unit, spec.minimum, spec.maximum, spec.config_key) == (
            declared.kind, declared.description, declared.unit, declared.minimum, declared.maximum,
            declared.config_key), spec.key


def test_the_config_file_layout_takes_the_dm_keys_from_the_declaration():
    assert dm_config.PARAMETER_SOURCES == {key: s.config_key for key, s in DECLARED.items()}
    assert set(dm_config.REQUIRED) == {s.config_key for s in dm.DM_SETTINGS}
    for s in dm.DM_SETTINGS:
        section, key = s.config_key.split(".")
        assert dm_config.SCHEMA[section][key] == dm_config._FILE_KIND[s.kind], s.config_key


def test_the_repository_config_file_holds_every_declared_setting():
    cfg = dm_config.load_dm_config(REPO_CONFIG, strict=True)
    assert {s.config_key for s in dm.DM_SETTINGS} <= set(cfg.values)
    assert list(cfg.settings) == list(DECLARED)
    assert set(dm_config.dm_parameter_texts(cfg)) == set(DECLARED)
    assert [f.name for f in dataclasses.fields(dm_config.DmConfig)
            if f.name in DECLARED] == []  # DmConfig names no DM setting: they are all in cfg.settings


def test_the_legacy_defaults_are_the_values_of_the_config_file():
    cfg = dm_config.load_dm_config(REPO_CONFIG, strict=True)
    assert dm.LEGACY_DEFAULTS == strategy_settings(cfg.settings)


def test_the_settings_read_from_the_file_make_the_strategy_settings():
    cfg = dm_config.load_dm_config(REPO_CONFIG, strict=True)
    values = parameters.parse_settings("DM", dm_config.dm_parameter_texts(cfg))
    assert strategy_settings(values) == dm.LEGACY_DEFAULTS
    assert values[dm.RISK_SCALE.key] == cfg.settings["risk_scale"]


def test_the_declaration_stays_pure():
    # The strategy module holds the declaration, so importing it alone must load no Django.
    code = "import sys, sleeves.strategies.dm; print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
