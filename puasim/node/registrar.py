"""Kamailio's registrar ``save()`` (5.6.3) over :mod:`puasim.node.usrloc`, sans-IO.

:func:`save` takes a REGISTER and returns what registrar answers: status,
reason and the reply's own header fields (``Contact`` listing every valid
contact of the AOR with ``;expires=`` remaining seconds, ``Min-Expires`` with
a 423, ``P-Registrar-Error`` with any error).  The usrloc changes it makes fire
the usrloc callbacks in registrar's order (``save.c``):

* The AOR is the To URI's user part, lower-cased (``user@host`` with usrloc
  ``use_domain``).
* Contacts are taken header by header; inside one ``Contact`` header
  Kamailio's parser lists them **last first**, so ``Contact: <A>, <B>`` is
  processed B then A (lab capture 01 #17: the 200 lists 5096 before 5095).
* Expires per contact (``calc_contact_expires``): the contact's ``expires``
  parameter, else the ``Expires`` header, else ``default_expires``; a non-zero
  value below ``min_expires`` is raised to it, or refused with 423 and
  ``Min-Expires`` when ``min_expires_mode`` is 1; above a non-zero
  ``max_expires`` it is lowered.
* ``Contact: *`` (only with ``Expires: 0`` and alone, else 400) deletes the
  whole record: one DELETE callback per contact, in usrloc's order.
* No record yet (``insert_contacts``): contacts with expires 0 are skipped,
  the others inserted (INSERT callback each); a failure half-way deletes the
  record again (DELETE callbacks for what was inserted).
* A record (``update_contacts``): per contact, not found → insert (unless
  expires 0), found → delete when expires 0 (DELETE), else update (UPDATE);
  a lower CSeq on the same Call-ID → 400 ``Invalid CSeq number``; the same
  CSeq within ``cseq_delay`` is a retransmission and skipped.
* ``max_contacts`` (0 = off) → 503 ``Too many registered contacts``.

Not modelled: randomised expiry (``expires_range``, default 0), outbound,
GRUU, ``Path`` handling beyond storing the header (``use_path``), the save
flags other than 0, ``received`` (set only by nathelper in Kamailio; stays
empty here), ``xavp_cfg``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

from puasim.node.usrloc import Q_UNSPECIFIED, ContactInfo, Record, Usrloc
from puasim.sip import headers as H
from puasim.sip.errors import SipParseError
from puasim.sip.fields import NameAddr, parse_name_addr_list
from puasim.sip.message import Request
from puasim.sip.uri import parse_uri

Headers = tuple[tuple[str, str], ...]


class RegistrarError(ValueError):
    """A registrar parameter was refused at start-up."""


@dataclass(frozen=True, slots=True)
class RegistrarConfig:
    """registrar's parameters with their 5.6.3 defaults."""

    default_expires: int = 3600
    min_expires: int = 60
    max_expires: int = 0
    min_expires_mode: int = 0
    max_contacts: int = 0
    use_path: int = 0

    @classmethod
    def from_params(cls, params: dict) -> RegistrarConfig:
        known = {f.name for f in fields(cls)}
        for key, value in params.items():
            if key not in known:
                raise RegistrarError(f"unknown registrar parameter {key!r} (modelled: {', '.join(sorted(known))})")
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise RegistrarError(f"registrar parameter {key!r} must be an integer >= 0, got {value!r}")
        return cls(**params)


@dataclass(frozen=True, slots=True)
class SaveResult:
    """What ``save()`` returned and the reply registrar sends."""

    rc: int
    status: int
    reason: str
    headers: Headers
    aor: str = ""


class _Refused(Exception):
    def __init__(self, status: int, reason: str, info: str, extra: Headers = ()) -> None:
        super().__init__(info)
        self.status, self.reason, self.info, self.extra = status, reason, info, extra


def extract_aor(to_uri: str, use_domain: int) -> str:
    """registrar's ``extract_aor``: user (lower case), ``@host`` with use_domain."""
    uri = parse_uri(to_uri)
    user = (uri.user or "").lower()
    if use_domain:
        return f"{user}@{uri.host.lower()}" if user else uri.host.lower()
    return user


def request_contacts(request: Request) -> list[NameAddr]:
    """Contacts in Kamailio's processing order: header by header, each header's list reversed."""
    out: list[NameAddr] = []
    for value in request.get_all("contact"):
        out.extend(reversed(parse_name_addr_list(value, "Contact")))
    return out


def contact_expires(na: NameAddr | None, header_expires: int | None, cfg: RegistrarConfig, now_s: int) -> int:
    """``calc_contact_expires``: absolute expiry (0 = remove); raises 423 in min_expires_mode 1."""
    value: int | None = None
    if na is not None:
        try:
            value = na.expires
        except SipParseError:
            value = cfg.default_expires
    if value is None:
        value = header_expires if header_expires is not None else cfg.default_expires
    if value == 0:
        return 0
    if value < cfg.min_expires:
        if cfg.min_expires_mode:
            raise _Refused(423, "Interval Too Brief", "Interval too brief", (("Min-Expires", str(cfg.min_expires)),))
        value = cfg.min_expires
    if cfg.max_expires and value > cfg.max_expires:
        value = cfg.max_expires
    return value + now_s


def _q(na: NameAddr) -> int:
    """``calc_contact_q``: the q parameter in thousandths; a bad one refuses the REGISTER."""
    try:
        q = na.q
    except SipParseError:
        q = -1.0
    if q is None:
        return Q_UNSPECIFIED
    if not 0 <= q <= 1:
        raise _Refused(400, "Bad Request", "Invalid q param in contact")
    return int(round(q * 1000))


def _param(na: NameAddr, name: str) -> str:
    for key, value in na.params:
        if key.lower() == name:
            return (value or "").strip('"')
    return ""


def contact_header(usrloc: Usrloc, domain: str, aor: str, now_s: int) -> Headers:
    """``build_contact``: one Contact field listing the valid contacts with their remaining seconds."""
    rec = usrloc.get_urecord(domain, aor)
    parts = []
    for c in rec.contacts if rec is not None else []:
        if not c.valid(now_s):
            continue
        q = "" if c.q == Q_UNSPECIFIED else f";q={c.q / 1000:.3f}".rstrip("0").rstrip(".")
        parts.append(f"<{c.uri}>{q};expires={c.expires - now_s}")
    return (("Contact", ", ".join(parts)),) if parts else ()


def save(
    usrloc: Usrloc,
    domain: str,
    request: Request,
    now_us: int,
    cfg: RegistrarConfig,
    cflags: int = 0,
) -> SaveResult:
    """``save(domain)`` for one REGISTER (see the module docstring for the rules)."""
    now_s = usrloc.seconds(now_us)
    usrloc.register_domain(domain)
    def refuse(text: str) -> SaveResult:
        return SaveResult(-1, 400, "Bad Request", (("P-Registrar-Error", text),))

    # parse_message(): each header's own error text (reply.c error_info)
    try:
        to = H.to(request)
    except SipParseError:
        return refuse("Message parse error")
    if to is None:
        return refuse("To header not found")
    try:
        aor = extract_aor(to.uri, usrloc.cfg.use_domain)
    except ValueError:
        return refuse("Error while parsing AOR")
    try:
        contacts = request_contacts(request)
    except SipParseError:
        return refuse("Contact parse error")
    try:
        header_expires = H.expires_or_none(request)
    except SipParseError:
        return refuse("Expires parse error")
    try:
        call_id = H.call_id(request)
        cs = H.cseq(request)
    except SipParseError:
        return refuse("Message parse error")
    if call_id is None:
        return refuse("Call-ID header not found")
    if cs is None:
        return refuse("CSeq header not found")
    cseq = cs.seq
    star = any(c.is_wildcard for c in contacts)
    try:
        if star:  # check_contacts, then star()
            if header_expires not in (None, 0):
                raise _Refused(400, "Bad Request", "* used in contact and expires is not zero")
            if len(contacts) > 1:
                raise _Refused(400, "Bad Request", "* used in contact and more than 1 contact")
            usrloc.delete_urecord(domain, aor, now_us)
            return SaveResult(3, 200, "OK", (), aor)
        if not contacts:  # no_contacts: a query
            return SaveResult(4, 200, "OK", contact_header(usrloc, domain, aor, now_s), aor)
        user_agent = request.get("user-agent") or ""
        path = request.get("path") or "" if cfg.use_path else ""

        def info(na: NameAddr, expires: int) -> ContactInfo:
            reg_id = _param(na, "reg-id")
            return ContactInfo(
                expires=expires, call_id=call_id, cseq=cseq, q=_q(na), cflags=cflags, path=path,
                user_agent=user_agent, instance=_param(na, "+sip.instance"),
                reg_id=int(reg_id) if reg_id.isdigit() else 0,
            )

        rec = usrloc.get_urecord(domain, aor)
        if rec is None:
            _insert_contacts(usrloc, domain, aor, contacts, header_expires, cfg, now_us, now_s, info)
            rc = 1
        else:
            try:
                rc = _update_contacts(usrloc, rec, contacts, header_expires, cfg, now_us, now_s, info, call_id, cseq)
            finally:
                usrloc.release_urecord(rec)
    except _Refused as exc:
        headers = (*contact_header(usrloc, domain, aor, now_s), *exc.extra, ("P-Registrar-Error", exc.info))
        return SaveResult(-2 if exc.status == 503 else -1, exc.status, exc.reason, headers, aor)
    return SaveResult(rc, 200, "OK", contact_header(usrloc, domain, aor, now_s), aor)


InfoOf = Callable[[NameAddr, int], ContactInfo]


def _insert_contacts(
    usrloc: Usrloc, domain: str, aor: str, contacts: list[NameAddr], header_expires: int | None,
    cfg: RegistrarConfig, now_us: int, now_s: int, info: InfoOf,
) -> None:
    """``insert_contacts``: a new record gets every contact with a non-zero expiry."""
    rec = None
    num = 0
    try:
        for na in contacts:
            expires = contact_expires(na, header_expires, cfg, now_s)
            if expires == 0:
                continue
            if cfg.max_contacts and num >= cfg.max_contacts:
                raise _Refused(503, "Service Unavailable", "Too many registered contacts")
            num += 1
            if rec is None:
                rec = usrloc.insert_urecord(domain, aor)
            ci = info(na, expires)
            # the "buggy clients" rule: a second copy of one contact in the same
            # REGISTER (CSeq + 1 finds it) is an update, not a second insert
            found = None
            if rec.contacts:
                rc, c = usrloc.get_ucontact(rec, na.uri, ci.call_id, ci.cseq + 1, now_us)
                found = c if rc == 0 else None
            if found is None:
                usrloc.insert_ucontact(rec, na.uri, ci, now_us)
            else:
                usrloc.update_ucontact(rec, found, ci, now_us)
    except _Refused:
        if rec is not None:
            usrloc.delete_urecord(domain, aor, now_us)
        raise
    if rec is not None:
        usrloc.release_urecord(rec)


def _update_contacts(
    usrloc: Usrloc, rec: Record, contacts: list[NameAddr], header_expires: int | None, cfg: RegistrarConfig,
    now_us: int, now_s: int, info: InfoOf, call_id: str, cseq: int,
) -> int:
    """``update_contacts`` (mode 0): insert, update or delete each contact of an existing record."""
    if cfg.max_contacts:
        num = sum(1 for c in rec.contacts if c.valid(now_s))
        for na in contacts:
            try:
                e = contact_expires(na, header_expires, cfg, now_s)
            except _Refused:
                e = cfg.min_expires
            rc, _c = usrloc.get_ucontact(rec, na.uri, call_id, cseq, now_us)
            if rc == -1:
                raise _Refused(400, "Bad Request", "Invalid CSeq number")
            if rc == -2:
                continue
            if rc > 0:
                num += 1 if e != 0 else 0
            elif e == 0:
                num -= 1
        if num > cfg.max_contacts:
            raise _Refused(503, "Service Unavailable", "Too many registered contacts")
    result = 0
    for na in contacts:
        expires = contact_expires(na, header_expires, cfg, now_s)
        ci = info(na, expires)
        rc, c = usrloc.get_ucontact(rec, na.uri, call_id, cseq, now_us)
        if rc == -1:
            raise _Refused(400, "Bad Request", "Invalid CSeq number")
        if rc == -2:  # a retransmission of the last change
            continue
        if rc > 0:
            if expires == 0:
                continue
            usrloc.insert_ucontact(rec, na.uri, ci, now_us)
            result = 1
        elif expires == 0:
            assert c is not None
            usrloc.delete_ucontact(rec, c, now_us)
            result = 3
        else:
            assert c is not None
            if ci.instance and ci.call_id != c.call_id:  # same instance, new Call-ID: drop its siblings
                for other in list(rec.contacts):
                    if other is not c and other.instance == c.instance:
                        usrloc.delete_ucontact(rec, other, now_us)
            usrloc.update_ucontact(rec, c, ci, now_us)
            result = 2
    return result
