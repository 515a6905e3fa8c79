"""mod_init's parameter checks and repairs (pua-reference §1.1, §1.2)."""

from __future__ import annotations

import pytest

from puasim.pua.config import PuaStartupError, load_config


def test_defaults_are_kamailios():
    cfg = load_config()
    assert (cfg.min_expires, cfg.default_expires, cfg.update_period) == (0, 3600, 100)
    assert (cfg.check_remote_contact, cfg.db_mode, cfg.fetch_rows, cfg.db_table_lock_write) == (1, 0, 500, 1)
    assert cfg.table_size == 512 and cfg.clean_period == 95
    assert cfg.profile == "kamailio-5.6" and cfg.warnings == ()


@pytest.mark.parametrize("value, size", [(-1, 512), (0, 512), (1, 512), (2, 4), (10, 1024)])
def test_hash_size_is_an_exponent(value, size):
    assert load_config(hash_size=value).table_size == size


@pytest.mark.parametrize("value, effective", [(300, 3600), (599, 3600), (600, 600), (7200, 7200)])
def test_default_expires_below_600_becomes_3600(value, effective):
    cfg = load_config(default_expires=value)
    assert cfg.default_expires == effective
    assert bool(cfg.warnings) == (value < 600)


def test_negative_min_expires_is_reset():
    cfg = load_config(min_expires=-5)
    assert cfg.min_expires == 0 and "min_expires" in cfg.warnings[0]


@pytest.mark.parametrize("mode", [1, 3, -1])
def test_db_mode_other_than_0_or_2_is_forced_to_0(mode):
    cfg = load_config(db_mode=mode)
    assert cfg.db_mode == 0 and "forced to 0" in cfg.warnings[0]


@pytest.mark.parametrize(
    "params, reason",
    [
        ({"update_period": -1}, "wrong clean_period"),
        ({"update_period": 1}, "must be 0 or > 5"),
        ({"update_period": 5}, "must be 0 or > 5"),
        ({"check_remote_contact": 2}, "check_remote_contact"),
        ({"profile": "kamailio-4.4"}, "unknown profile"),
        ({"no_such_param": 1}, "unknown pua parameter"),
        ({"update_period": "100"}, "must be an integer"),
        ({"outbound_proxy": 5}, "must be a string"),
    ],
)
def test_values_that_stop_kamailio_from_starting(params, reason):
    with pytest.raises(PuaStartupError, match=reason):
        load_config(params)


def test_update_period_zero_and_six_start():
    assert load_config(update_period=0).clean_period == 0
    assert load_config(update_period=6).clean_period == 1


def test_reg_processor_follows_the_profile():
    """§11.1: 5.6.3 chooses the reg processor by dlginfo_increase_version (GH #3234)."""
    from puasim.pua.constants import Event
    from puasim.pua.events import builtin_registry, pass_through, reginfo_version

    old = builtin_registry(load_config(reginfo_increase_version=1))
    new = builtin_registry(load_config(reginfo_increase_version=1, profile="kamailio-master"))
    assert old.get(Event.REGINFO).processor is pass_through
    assert new.get(Event.REGINFO).processor is reginfo_version
    assert old.get(Event.DFKS) is None and new.get(Event.DFKS) is not None
