"""quick_init: the faster __init__ builds the same frozen dataclass values."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from puasim.effects import Send, SetTimer
from puasim.frozen import quick_init
from puasim.sip.message import Request, Response
from puasim.trace.events import EVENT_TYPES, MessageSent
from puasim.trace.trace import Record


@dataclasses.dataclass(frozen=True, slots=True)
class Plain:
    a: int
    b: str = "x"
    c: tuple = ()
    hidden: dict | None = dataclasses.field(default=None, init=False, compare=False)
    k: int = dataclasses.field(default=7, kw_only=True)


@quick_init
@dataclasses.dataclass(frozen=True, slots=True)
class Quick:
    a: int
    b: str = "x"
    c: tuple = ()
    hidden: dict | None = dataclasses.field(default=None, init=False, compare=False)
    k: int = dataclasses.field(default=7, kw_only=True)


def test_same_signature_as_the_dataclass_init():
    assert str(inspect.signature(Quick)) == str(inspect.signature(Plain))
    for cls in (Send, SetTimer, Record, Request, Response, *EVENT_TYPES.values()):
        names = [p.name for p in inspect.signature(cls).parameters.values()]
        assert names == [f.name for f in dataclasses.fields(cls) if f.init], cls


@pytest.mark.parametrize(
    "args, kwargs",
    [((1,), {}), ((1, "y"), {}), ((1, "y", (2,)), {"k": 3}), ((), {"a": 5, "c": (1,)})],
)
def test_values_equal_the_generated_init(args, kwargs):
    q, p = Quick(*args, **kwargs), Plain(*args, **kwargs)
    assert [getattr(q, f.name) for f in dataclasses.fields(Quick)] == [
        getattr(p, f.name) for f in dataclasses.fields(Plain)
    ]
    assert q.hidden is None
    assert q == Quick(*args, **kwargs) and hash(q) == hash(Quick(*args, **kwargs))


def test_bad_calls_fail_as_the_generated_init_does():
    with pytest.raises(TypeError):
        Quick()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Quick(1, "y", (), 4)  # type: ignore[misc]  (k is keyword-only)
    with pytest.raises(TypeError):
        Quick(1, hidden={})  # type: ignore[call-arg]


def test_still_frozen_and_replace_works():
    q = Quick(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.a = 2  # type: ignore[misc]
    assert dataclasses.replace(q, b="z") == Quick(1, "z")
    m = MessageSent(("a", 1), ("b", 2), Request("OPTIONS", "sip:x"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.retransmission = True  # type: ignore[misc]
    assert m.retransmission is False and m.message.headers == () and m.message._hindex is None


def test_refuses_what_it_cannot_build():
    @dataclasses.dataclass(frozen=True, slots=True)
    class Post:
        a: int

        def __post_init__(self) -> None:
            pass

    @dataclasses.dataclass(frozen=True, slots=True)
    class Factory:
        a: list = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(slots=True)
    class Mutable:
        a: int

    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    for cls in (Post, Factory, Mutable, NoSlots):
        with pytest.raises(TypeError):
            quick_init(cls)
