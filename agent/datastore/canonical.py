"""Canonical forms of values (RFC 7950 section 9.1), so that a list key or a leaf-list value
is compared, stored and sent in one spelling: ``2001:DB8::A`` and ``2001:db8:0::a`` are one
policy, ``+0300`` is ``300``.

libyang would do this for every type it has a plugin for, but libyang 4.5.5 binds its
ipv6-address plugin to the ietf-inet-types revision it ships (2025-12-22): with the
2013-07-15 revision this model imports (and advertises), it keeps an address as typed
(measured: ``2001:DB8::A`` stays upper-case). So the canonical forms the model's types need
are here, chosen from the YANG type of each leaf (:func:`for_type`, called when the schema is
indexed), never from the leaf's name:

- integer built-in types (section 9.2.2): no ``+``, no leading zeros;
- ietf-inet-types ``ipv6-address`` and ``ipv6-address-no-zone``: RFC 5952 section 4 (the
  canonical format the typedef's description names), zone index kept as given;
- ``ipv4-address``: already canonical when valid (the pattern forbids leading zeros), but
  recognised, so that a union can tell an IPv4 from an IPv6 value;
- ``union`` (section 9.12): the canonical form of the first member type the value matches;
  a member whose matching is not known here (a string, say) ends the search, value unchanged.

A value is canonicalised only when it is a valid lexical form of the type; anything else is
left as given, for libyang's parse check to refuse with the client's own spelling.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Canonical = Callable[[str], str]

_INTEGER_TYPES = frozenset({"int8", "int16", "int32", "int64",
                            "uint8", "uint16", "uint32", "uint64"})
_INTEGER = re.compile(r"[+-]?[0-9]+")
# ietf-inet-types@2013-07-15 ipv4-address (the zone part too).
_IPV4 = re.compile(r"(([0-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-5])\.){3}"
                   r"([0-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-5])(%[^\W_]+)?")
_IPV6_TEXT = re.compile(r"[0-9A-Fa-f:.]+")
_ZONE = re.compile(r"[^\W_]+")  # \p{N}\p{L}: Unicode letters and digits


@dataclass(frozen=True, slots=True)
class _Kind:
    """How one type recognises and canonicalises its values."""

    matches: Callable[[str], bool]
    canonical: Canonical


def _integer(value: str) -> str:
    return str(int(value))


def _ipv6_parts(value: str) -> tuple[ipaddress.IPv6Address, str] | None:
    address, percent, zone = value.partition("%")
    if not _IPV6_TEXT.fullmatch(address) or (percent and not _ZONE.fullmatch(zone)):
        return None
    try:
        return ipaddress.IPv6Address(address), percent + zone
    except ValueError:
        return None


def _ipv6(value: str) -> str:
    parts = _ipv6_parts(value)
    if parts is None:
        return value
    address, zone = parts
    mapped = address.ipv4_mapped  # RFC 5952 section 5: ::ffff: and the dotted quad
    text = f"::ffff:{mapped}" if mapped is not None else address.compressed
    return text + zone


_INTEGER_KIND = _Kind(lambda v: _INTEGER.fullmatch(v) is not None, _integer)
_IPV4_KIND = _Kind(lambda v: _IPV4.fullmatch(v) is not None, lambda v: v)
_IPV6_KIND = _Kind(lambda v: _ipv6_parts(v) is not None, _ipv6)
_INET = {
    "ipv4-address": _IPV4_KIND,
    "ipv4-address-no-zone": _IPV4_KIND,
    "ipv6-address": _IPV6_KIND,
    "ipv6-address-no-zone": _IPV6_KIND,
}


def _union(members: list[_Kind | None]) -> _Kind | None:
    known: list[_Kind] = []
    for member in members:
        if member is None:
            break  # its matching is unknown: the members after it are never reached safely
        known.append(member)
    if not known:
        return None

    def matching(value: str) -> _Kind | None:
        return next((member for member in known if member.matches(value)), None)

    def canonical(value: str) -> str:
        member = matching(value)
        return value if member is None else member.canonical(value)

    return _Kind(lambda v: matching(v) is not None, canonical)


def _kind(type_stmt: Any) -> _Kind | None:
    """The kind of a pyang ``type`` statement, through typedefs, unions and leafrefs."""
    typedef = getattr(type_stmt, "i_typedef", None)
    if typedef is not None:
        if typedef.i_module.arg == "ietf-inet-types" and typedef.arg in _INET:
            return _INET[typedef.arg]
        return _kind(typedef.search_one("type"))
    name = type_stmt.arg
    if name in _INTEGER_TYPES:
        return _INTEGER_KIND
    if name == "union":
        return _union([_kind(member) for member in type_stmt.search("type")])
    if name == "leafref":
        target = getattr(getattr(type_stmt, "i_type_spec", None), "i_target_node", None)
        target_type = None if target is None else target.search_one("type")
        return None if target_type is None else _kind(target_type)
    return None


def for_type(type_stmt: Any) -> Canonical | None:
    """The canonicaliser of values of a pyang ``type`` statement; None: values as given."""
    kind = _kind(type_stmt) if type_stmt is not None else None
    if kind is None:
        return None

    def canonical(value: str) -> str:
        return kind.canonical(value) if kind.matches(value) else value

    return canonical
