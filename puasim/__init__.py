"""puasim: a deterministic simulator and test bench for SIP presence user agents.

The package follows the layering of the project's design notes: ``sip`` and
``bodies`` at the bottom, then ``trace``, ``txn`` and ``store``, the models
(``pua``, ``server``, ``companions``), the drivers (``sim``, ``live``,
``capture``) and finally ``scenario``, ``report`` and the command line.
"""

__version__ = "0.1.0"
