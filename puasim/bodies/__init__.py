"""XML and text bodies of SIP presence: PIDF, dialog-info, reginfo, message-summary.

``bodies`` knows the documents (RFC 3863, RFC 4235, RFC 3680, RFC 3842) and
the body processing of Kamailio's pua module (pua-reference §3.4), and
nothing of SIP transport.  Every function is pure; every reader raises
:class:`BodyError` (a ``ValueError``) and nothing else on bad input.

Modules: :mod:`.xml` (safe parser, Kamailio-style serialiser),
:mod:`.lookup` (Kamailio's libxml look-ups), :mod:`.pidf`,
:mod:`.dialoginfo`, :mod:`.reginfo`, :mod:`.versioning` (the §3.4.2
processor), :mod:`.mwi`, :mod:`.registry` (content type → reader).
"""

from . import dialoginfo, reginfo
from .dialoginfo import DIALOG_INFO_NS, Dialog, DialogInfo, build_dialog_info, parse_dialog_info
from .errors import BodyError
from .mwi import MESSAGE_CLASSES, MessageSummary, build_message_summary, parse_message_summary
from .pidf import (
    PIDF_NS,
    Pidf,
    Tuple,
    build_pidf,
    first_tuple_id,
    parse_pidf,
    process_pidf_tuple_id,
)
from .reginfo import REGINFO_NS, RegContact, Reginfo, Registration, build_reginfo, parse_reginfo
from .registry import BODY_PARSERS, parse_body
from .xml import (
    ParsedXml,
    XmlDeclaration,
    parse_document,
    parse_xml,
    read_declaration,
    serialise_formatted,
)

#: pua-reference §3.4.2 for events ``dialog`` / ``dialog;sla``
read_dialog_info_version = dialoginfo.read_version
rewrite_dialog_info_version = dialoginfo.rewrite_version
#: pua-reference §3.4.2 for event ``reg``
read_reginfo_version = reginfo.read_version
rewrite_reginfo_version = reginfo.rewrite_version

__all__ = [
    "BODY_PARSERS",
    "DIALOG_INFO_NS",
    "MESSAGE_CLASSES",
    "PIDF_NS",
    "REGINFO_NS",
    "BodyError",
    "Dialog",
    "DialogInfo",
    "MessageSummary",
    "ParsedXml",
    "Pidf",
    "RegContact",
    "Registration",
    "Reginfo",
    "Tuple",
    "XmlDeclaration",
    "build_dialog_info",
    "build_message_summary",
    "build_pidf",
    "build_reginfo",
    "first_tuple_id",
    "parse_body",
    "parse_dialog_info",
    "parse_document",
    "parse_message_summary",
    "parse_pidf",
    "parse_reginfo",
    "parse_xml",
    "process_pidf_tuple_id",
    "read_declaration",
    "read_dialog_info_version",
    "read_reginfo_version",
    "rewrite_dialog_info_version",
    "rewrite_reginfo_version",
    "serialise_formatted",
]
