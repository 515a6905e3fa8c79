"""Module parameters of pua with Kamailio's defaults and mod_init's checks (pua-reference §1).

:func:`load_config` applies mod_init in its order (§1.2): values Kamailio
silently repairs are repaired and reported as warnings; values that make
Kamailio refuse to start raise :class:`PuaStartupError` with Kamailio's reason.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields, replace
from typing import Any

from puasim.effects import StartupError
from puasim.pua.policy import POLICIES, ClientPolicy

PROFILES = ("kamailio-5.6", "kamailio-master", "fixed", "pjsua", "sipsimple")
DEFAULT_PROFILE = "kamailio-5.6"

#: Repairs of known pua defects (pua-reference §10), each switchable on its own
#: with the ``repairs`` parameter (comma-separated, e.g. ``"B4,D1"``).  Profile
#: ``fixed`` is ``kamailio-5.6`` with all of them switched on.
REPAIRS: dict[str, str] = {
    "B4": "a removal (expires 0) is sent with Expires: 0, not min_expires (§3.5, §4.2)",
    "D1": "a 423 to a PUBLISH with a body is retried once with the reply's Min-Expires (RFC 3903 §6)",
    "B9": "a 412 to a timer refresh re-publishes the last body as a new initial PUBLISH (§3.8.1)",
    "B8": "one PUBLISH in flight per publication; later ones wait and go out with the newest ETag (§3.11)",
    "B10": "a failed refresh skips only that record; the sweep goes on (§5.2)",
    "B11": "module destroy flushes the changes since the last DB sync (§5.7)",
    "B1": "pua_update_contact() matches the dialog with the NOTIFY's tags the right way round and stores the Contact URI (§6)",
    "B2": "a SUBSCRIBE without remote_target finds its dialog by watcher alone, so pua.subscribe can refresh and end it (§2.5.2)",
    "B3": "an indefinite subscription (expires -1) stays indefinite after its first refresh (§4.5, §5.3)",
    "B5": "an error reply to an un-SUBSCRIBE ends the dialog without a new initial SUBSCRIBE (§4.6.1)",
    "B6": "only 408 and 481 to an in-dialog SUBSCRIBE re-subscribe; 405/489/501 end it; other errors keep it (RFC 6665 §4.1.2.2)",
    "B31": "a re-subscribe with expires -1 leaves a temporary dialog alone, as any expires > 0 does (§4.3 row 5)",
    "B7": "an error reply to an initial PUBLISH deletes no record; db_mode 2 deletes by pres_uri too (§3.8 row 3, §2.6)",
    "B12": "the DB sync UPDATE writes every column and inserts a missing row (§5.5)",
    "B13": "start-up restore skips expired rows, restores publication versions and survives a NULL tuple_id (§5.6)",
    "B28": "db_mode 2 SUBSCRIBE look-up also matches watcher, flag and event, and deletes no rows on a tie (§2.6)",
    "B29": "db_mode 2 is_dialog accepts a NOTIFY with a To-tag for a temporary dialog, as db_mode 0 does (§2.6)",
}

#: repairs each profile switches on by itself; ``pjsua`` and ``sipsimple`` also
#: follow their stack's client policy (:mod:`puasim.pua.policy`)
PROFILE_REPAIRS: dict[str, frozenset[str]] = {
    "fixed": frozenset(REPAIRS),
    "pjsua": frozenset({"B1", "B2", "B3", "B4", "B7", "B8", "B9", "B31"}),
    "sipsimple": frozenset({"B1", "B2", "B3", "B4", "B7", "B8", "B9", "B31"}),
}


class PuaStartupError(StartupError, ValueError):
    """pua would refuse to start (mod_init or child_init failed): bad parameters, no database."""


@functools.lru_cache(maxsize=64)
def _repaired(repairs: str, profile: str) -> frozenset[str]:
    """The defects repaired by the ``repairs`` list and the profile (asked for at every
    refresh and reply, so kept per configuration)."""
    own = frozenset(r.strip() for r in repairs.split(",") if r.strip())
    return own | PROFILE_REPAIRS.get(profile, frozenset())


@dataclass(frozen=True, slots=True)
class PuaConfig:
    """The pua module parameters (§1.1) plus puasim's choice of behaviour profile."""

    hash_size: int = -1
    db_url: str = "sqlite://:memory:"
    db_table: str = "pua"
    min_expires: int = 0
    default_expires: int = 3600
    update_period: int = 100
    outbound_proxy: str = ""
    dlginfo_increase_version: int = 0
    reginfo_increase_version: int = 0
    check_remote_contact: int = 1
    db_mode: int = 0
    fetch_rows: int = 500
    db_table_lock_write: int = 1
    #: which Kamailio the model follows (§11)
    profile: str = DEFAULT_PROFILE
    #: comma-separated B/D numbers of §10 defects repaired (see :data:`REPAIRS`)
    repairs: str = ""
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def table_size(self) -> int:
        """Number of hash buckets (§1.1 hash_size; unused in db_mode 2)."""
        return 512 if self.hash_size <= 1 else 2**self.hash_size

    @property
    def clean_period(self) -> int:
        """Seconds between sweeps (§5.1); 0 = no timers."""
        return self.update_period - 5 if self.update_period > 5 else 0

    @property
    def is_master(self) -> bool:
        return self.profile == "kamailio-master"

    @property
    def repaired(self) -> frozenset[str]:
        """The §10 defects this configuration repairs (all of them for profile ``fixed``)."""
        return _repaired(self.repairs, self.profile)

    def repairs_(self, number: str) -> bool:
        """True when defect ``number`` (e.g. ``"B4"``) of pua-reference §10 is repaired."""
        return number in self.repaired

    @property
    def client(self) -> ClientPolicy | None:
        """The other stack's PUBLISH and SUBSCRIBE policy for profiles ``pjsua`` / ``sipsimple``, else None."""
        return POLICIES.get(self.profile)

    @property
    def reg_uses_dlginfo_flag(self) -> bool:
        """5.6.3 picks the ``reg`` body processor by dlginfo_increase_version (§11.1, GH #3234)."""
        return not self.is_master


PARAM_NAMES = tuple(f.name for f in fields(PuaConfig) if f.name not in ("warnings",))


def load_config(params: dict[str, Any] | None = None, **overrides: Any) -> PuaConfig:
    """Build a :class:`PuaConfig` as mod_init would (§1.2).

    Unknown parameter names and wrongly typed values raise ``PuaStartupError``
    too: Kamailio refuses a ``modparam`` it does not know.
    """
    merged: dict[str, Any] = dict(params or {})
    merged.update(overrides)
    warnings: list[str] = []
    defaults = PuaConfig()
    values: dict[str, Any] = {}
    for name, value in merged.items():
        if name not in PARAM_NAMES:
            raise PuaStartupError(f"unknown pua parameter {name!r} (known: {', '.join(PARAM_NAMES)})")
        expected = type(getattr(defaults, name))
        if expected is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise PuaStartupError(f"pua parameter {name} must be an integer, got {value!r}")
        elif not isinstance(value, str):
            raise PuaStartupError(f"pua parameter {name} must be a string, got {value!r}")
        values[name] = value
    cfg = replace(defaults, **values)
    if cfg.profile not in PROFILES:
        raise PuaStartupError(f"unknown profile {cfg.profile!r} (known: {', '.join(PROFILES)})")
    unknown = sorted(cfg.repaired - set(REPAIRS))
    if unknown:
        raise PuaStartupError(f"unknown repairs {', '.join(unknown)} (known: {', '.join(REPAIRS)})")
    # 1. clamp min_expires, fix default_expires
    if cfg.min_expires < 0:
        warnings.append(f"min_expires {cfg.min_expires} < 0: reset to 0")
        cfg = replace(cfg, min_expires=0)
    if cfg.default_expires < 600:
        warnings.append(f"default_expires {cfg.default_expires} < 600: replaced by 3600")
        cfg = replace(cfg, default_expires=3600)
    # 5. normalise db_mode (after the hash table was made: any value != 2 behaves as 0)
    if cfg.db_mode not in (0, 2):
        warnings.append(f"db_mode {cfg.db_mode} is not 0 or 2: forced to 0")
        cfg = replace(cfg, db_mode=0)
    # 6. negative update_period is fatal
    if cfg.update_period < 0:
        raise PuaStartupError("wrong clean_period (update_period < 0)")
    # 8. check_remote_contact must be 0 or 1
    if cfg.check_remote_contact not in (0, 1):
        raise PuaStartupError("bad value for check_remote_contact (must be 0 or 1)")
    # 9. 1..5 is fatal
    if 0 < cfg.update_period <= 5:
        raise PuaStartupError("update_period must be 0 or > 5")
    if cfg.fetch_rows <= 0:
        warnings.append(f"fetch_rows {cfg.fetch_rows} <= 0: Kamailio passes it on unchecked")
    return replace(cfg, warnings=tuple(warnings))
