"""Kamailio failure modes the model reproduces as errors."""


class KamailioCrash(RuntimeError):
    """The modelled Kamailio process would crash here (pua-reference Appendix C).

    Raising it inside a simulation ends the run with a ``RunError`` record;
    the trace up to the crash is kept.
    """
