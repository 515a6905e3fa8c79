"""Cheaper construction for frozen, slotted dataclasses made on every message.

A frozen dataclass's generated ``__init__`` stores each field with
``object.__setattr__(self, name, value)``: a global look-up, an attribute
look-up and a generic attribute store by name, for every field of every
object.  A run makes millions of them (trace records, events, effects,
messages), so :func:`quick_init` replaces that ``__init__`` with one that
calls each slot's own descriptor directly.  Nothing else changes: the class
stays a frozen, slotted dataclass (assignment still raises
:class:`dataclasses.FrozenInstanceError`; ``fields``, ``replace``,
equality, hashing and ``repr`` are the dataclass's), and the new
``__init__`` takes the same parameters with the same defaults.

Classes with a ``__post_init__``, ``InitVar`` pseudo-fields or
``default_factory`` fields are refused (their construction does more than
store values).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

__all__ = ["quick_init"]

_C = TypeVar("_C", bound=type)


def quick_init(cls: _C) -> _C:
    """Give the frozen, slotted dataclass ``cls`` a faster ``__init__``; returns ``cls``.

    Use it below ``@dataclass(frozen=True, slots=True)``::

        @quick_init
        @dataclass(frozen=True, slots=True)
        class Sent: ...
    """
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"quick_init needs a frozen, slotted dataclass, not {cls.__qualname__}")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"quick_init: {cls.__qualname__} has a __post_init__")
    if any(f._field_type is dataclasses._FIELD_INITVAR for f in cls.__dataclass_fields__.values()):  # type: ignore[attr-defined]
        raise TypeError(f"quick_init: {cls.__qualname__} has InitVar fields")
    env: dict[str, Any] = {}
    positional: list[str] = []
    keyword: list[str] = []
    body: list[str] = []
    for i, f in enumerate(dataclasses.fields(cls)):
        setter = f"_s{i}"
        env[setter] = _slot(cls, f.name).__set__
        if f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"quick_init: {cls.__qualname__}.{f.name} has a default_factory")
        if f.default is not dataclasses.MISSING:
            env[f"_d{i}"] = f.default
        if not f.init:
            if f.default is dataclasses.MISSING:
                raise TypeError(f"quick_init: {cls.__qualname__}.{f.name} is not in __init__ and has no default")
            body.append(f"{setter}(self, _d{i})")
            continue
        param = f.name if f.default is dataclasses.MISSING else f"{f.name}=_d{i}"
        (keyword if f.kw_only else positional).append(param)
        body.append(f"{setter}(self, {f.name})")
    signature = ", ".join(["self", *positional, *(["*", *keyword] if keyword else [])])
    source = (
        f"def _make({', '.join(env)}):\n"
        f"    def __init__({signature}):\n"
        + "".join(f"        {line}\n" for line in body or ["pass"])
        + "    return __init__\n"
    )
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<quick_init {cls.__qualname__}>", "exec"), namespace)  # noqa: S102
    init = namespace["_make"](**env)
    old = cls.__dict__["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__annotations__ = dict(getattr(old, "__annotations__", {}))
    init.__doc__ = old.__doc__
    cls.__init__ = init  # type: ignore[misc]
    return cls


def _slot(cls: type, name: str) -> Any:
    """The member descriptor of slot ``name`` (declared by ``cls`` or a base)."""
    for klass in cls.__mro__:
        descriptor = klass.__dict__.get(name)
        if descriptor is not None and hasattr(descriptor, "__set__"):
            return descriptor
    raise TypeError(f"quick_init: {cls.__qualname__}.{name} is not a slot")
