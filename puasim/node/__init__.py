"""Kamailio's node modules that feed the pua companions: usrloc and registrar.

They sit beside :mod:`puasim.pua` in the layer picture (``pua | node modules |
server``): sans-IO, no clock, no sockets.  Every input carries ``now`` in
integer microseconds; the Kamailio arithmetic runs on whole epoch seconds.
"""

from puasim.node.registrar import RegistrarConfig, save
from puasim.node.usrloc import Contact, ContactInfo, UlEvent, Usrloc, UsrlocConfig

__all__ = ["Contact", "ContactInfo", "RegistrarConfig", "UlEvent", "Usrloc", "UsrlocConfig", "save"]
