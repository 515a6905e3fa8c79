"""Argument types of the ``puasim`` command line.

Each function takes the text of one argument and returns its value or
raises :class:`argparse.ArgumentTypeError` with a one-line reason; argparse
then prints ``puasim <command>: error: argument --x: reason`` and exits
with status 2 before any work starts.  Output paths are checked the same way:
the folder they go in must exist (or be creatable) and be writable, so a
typo in ``--out`` fails at once rather than after a long run.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from puasim.sip.uri import split_hostport

__all__ = [
    "bind_address",
    "count",
    "input_file",
    "input_path",
    "name_value",
    "output_dir",
    "output_file",
    "phase",
    "port",
    "profiles",
    "seconds",
    "positive_seconds",
    "server_address",
    "source_flag",
    "uri_id",
]

Bad = argparse.ArgumentTypeError


def port(text: str) -> int:
    """A UDP port, 1 to 65535."""
    if not text.strip().isdigit() or not 1 <= int(text) <= 65535:
        raise Bad(f"{text!r} is not a port number (1-65535)")
    return int(text)


def server_address(text: str) -> tuple[str, int]:
    """``host:port`` (IPv6 as ``[addr]:port``), port 1 to 65535."""
    try:
        host, number = split_hostport(text)
    except ValueError as exc:
        raise Bad(str(exc)) from None
    if number == 0:
        raise Bad(f"{text!r}: port 0 is not an address to send to")
    return host, number


def bind_address(text: str) -> tuple[str, int]:
    """``host[:port]`` to bind; no port (or 0) means any free port."""
    try:
        return split_hostport(text, default_port=0)
    except ValueError as exc:
        raise Bad(str(exc)) from None


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise Bad(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise Bad(f"{text!r} is not a finite number")
    return value


def seconds(text: str) -> float:
    """A time in seconds, 0 or more."""
    value = _number(text)
    if value < 0:
        raise Bad(f"{text!r}: seconds must be 0 or more")
    return value


def positive_seconds(text: str) -> float:
    """A duration or factor above 0."""
    value = _number(text)
    if value <= 0:
        raise Bad(f"{text!r} must be above 0")
    return value


def count(text: str) -> int:
    """A whole number, 1 or more."""
    if not text.strip().isdigit() or int(text) < 1:
        raise Bad(f"{text!r} is not a whole number of 1 or more")
    return int(text)


def phase(text: str) -> str | float:
    """``auto`` or a time in seconds."""
    return "auto" if text == "auto" else seconds(text)


def name_value(text: str) -> tuple[str, object]:
    """``NAME=VALUE``; an integer value becomes an int."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise Bad(f"expected NAME=VALUE, got {text!r}")
    value = value.strip()
    return key.strip(), int(value) if value.lstrip("-").isdigit() else value


def uri_id(text: str) -> tuple[str, str]:
    """``URI=ID`` (split at the last ``=``)."""
    uri, sep, value = text.rpartition("=")
    if not sep or not uri:
        raise Bad(f"expected URI=ID, got {text!r}")
    return uri, value


def source_flag(text: str) -> int:
    """A pua source flag by name (``RPC_ASYN_PUBLISH``, ``UL_PUBLISH``, ...)."""
    from puasim.pua.constants import Source

    try:
        return int(Source[text])
    except KeyError:
        names = ", ".join(str(s.name) for s in Source)
        raise Bad(f"unknown source flag {text!r} (one of {names})") from None


def input_file(text: str) -> str:
    """An existing, readable file."""
    path = Path(text)
    if not path.exists():
        raise Bad(f"{text}: no such file")
    if not path.is_file():
        raise Bad(f"{text}: not a file")
    if not os.access(path, os.R_OK):
        raise Bad(f"{text}: not readable")
    return text


def input_path(text: str) -> str:
    """An existing file or folder."""
    if not Path(text).exists():
        raise Bad(f"{text}: no such file or folder")
    return text


def _writable_folder(folder: Path, text: str) -> None:
    """The nearest existing ancestor of ``folder`` is a writable folder."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise Bad(f"{text}: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise Bad(f"{text}: {probe} is not writable")


def output_file(text: str) -> str:
    """A file that can be written: not a folder, in a folder that exists (or can be
    made: the commands make it) and is writable."""
    path = Path(text)
    if not text or path.is_dir():
        raise Bad(f"{text!r}: is a folder, not a file")
    if path.exists() and not os.access(path, os.W_OK):
        raise Bad(f"{text}: not writable")
    _writable_folder(path.parent, text)
    return text


def output_dir(text: str) -> str:
    """A folder that exists or can be made, and can be written to."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise Bad(f"{text}: exists and is not a folder")
    _writable_folder(path, text)
    return text


def profiles(text: str) -> list[str]:
    """A comma-separated list of PUA profiles (``kamailio-5.6,fixed,pjsua``), each known, none twice."""
    from puasim.pua.config import PROFILES

    names = [p.strip() for p in text.split(",") if p.strip()]
    if not names:
        raise Bad("no profile given")
    unknown = [n for n in names if n not in PROFILES]
    if unknown:
        raise Bad(f"unknown profile {unknown[0]!r} (known: {', '.join(PROFILES)})")
    if len(set(names)) != len(names):
        raise Bad("a profile is named twice")
    return names
