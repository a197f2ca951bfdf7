"""What ``ike-agent show`` prints: Junos-style tables and configuration text, JSON, XML.

Pure functions of the ``<data>`` the agent answered (no I/O), so that they are tested on XML
alone. The configuration text follows Junos ``show configuration``: a container or list entry
per brace level (a list entry named by its key: ``policy 10.1.1.1 {``), ``leaf value;``,
leaf-lists as ``proposals [ a b ];``, and secrets never shown (``## SECRET-DATA``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from lxml import etree

IKE_NS = "urn:ike-agent:yang:ike-security"
MODULES = {IKE_NS: "ike-security"}  # namespace -> module name, for JSON member names
# List keys of the ike-security model, in order of preference; leaf-lists; secret leaves.
KEYS = ("name", "index", "address")
LEAF_LISTS = frozenset({"proposals"})
SECRETS = frozenset({"ascii-text", "hexadecimal", "private-key"})
INDENT = "    "
_BARE = re.compile(r"[A-Za-z0-9._:/@+-]+")


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _key(element: etree._Element) -> str | None:
    """The key of a list entry (its first child, when that is a key leaf), else None."""
    if len(element) and _local(element[0]) in KEYS and len(element[0]) == 0:
        return (element[0].text or "").strip()
    return None


def _quote(text: str) -> str:
    return text if _BARE.fullmatch(text) else json.dumps(text)


# -- configuration text ------------------------------------------------------------------------
def configuration_lines(data: etree._Element) -> list[tuple[tuple[str, ...], str]]:
    """(enclosing path, line) for each line of the Junos-style text of ``data``'s children."""
    lines: list[tuple[tuple[str, ...], str]] = []
    for top in data:
        if isinstance(top.tag, str):
            _statement(top, (), lines)
    return lines


def _statement(node: etree._Element, path: tuple[str, ...],
               lines: list[tuple[tuple[str, ...], str]]) -> None:
    pad = INDENT * len(path)
    name = _local(node)
    if len(node) == 0:
        value = (node.text or "").strip()
        if name in SECRETS:
            lines.append((path, f'{pad}{name} "********"; ## SECRET-DATA'))
        else:
            lines.append((path, f"{pad}{name} {_quote(value)};" if value else f"{pad}{name};"))
        return
    key = _key(node)
    head = f"{name} {_quote(key)}" if key is not None else name
    lines.append((path, f"{pad}{head} {{"))
    inner = (*path, head)
    children = [c for c in node if isinstance(c.tag, str)]
    if key is not None:
        children = children[1:]
    seen: set[str] = set()
    for child in children:
        child_name = _local(child)
        if child_name in LEAF_LISTS:
            if child_name in seen:
                continue
            seen.add(child_name)
            values = [_quote((c.text or "").strip()) for c in children if _local(c) == child_name]
            text = values[0] if len(values) == 1 else f"[ {' '.join(values)} ]"
            lines.append((inner, f"{INDENT * len(inner)}{child_name} {text};"))
        else:
            _statement(child, inner, lines)
    lines.append((path, f"{pad}}}"))


def configuration_text(data: etree._Element) -> str:
    return "".join(line + "\n" for _, line in configuration_lines(data))


# -- JSON (RFC 7951 shape: module-qualified top level, lists as arrays, values as text) ------
def to_json(data: etree._Element) -> str:
    return json.dumps(_members(data, top=True), indent=2) + "\n"


def _members(node: etree._Element, *, top: bool = False) -> dict[str, Any]:
    members: dict[str, Any] = {}
    for child in node:
        if not isinstance(child.tag, str):
            continue
        qname = etree.QName(child)
        name = qname.localname
        if top and qname.namespace:
            name = f"{MODULES.get(qname.namespace, qname.namespace)}:{name}"
        value: Any = _members(child) if len(child) else (child.text or "").strip()
        is_list = _key(child) is not None or qname.localname in LEAF_LISTS
        if name in members:
            if not isinstance(members[name], list):
                members[name] = [members[name]]
            members[name].append(value)
        else:
            members[name] = [value] if is_list else value
    return members


def to_xml(data: etree._Element) -> str:
    etree.indent(data)
    return "".join(etree.tostring(c, encoding="unicode") + "\n" for c in data
                   if isinstance(c.tag, str))


# -- tables ------------------------------------------------------------------------------------
def table(headers: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    """Left-aligned columns as Junos prints them, each as wide as its widest cell."""
    all_rows = [list(headers), *([*r] for r in rows)]
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(all_rows[0]))]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        + "\n"
        for row in all_rows
    )


def _ike(tag: str) -> str:
    return f"{{{IKE_NS}}}{tag}"


def security_associations(data: etree._Element, peer: str | None = None
                          ) -> Iterator[etree._Element]:
    for sa in data.iterfind(f"{_ike('security')}/{_ike('ike')}/{_ike('security-associations')}/"
                            f"{_ike('security-association')}"):
        if peer is None or sa.findtext(_ike("remote-address")) == peer:
            yield sa


def sa_table(data: etree._Element, peer: str | None = None) -> str:
    """``show security ike security-associations``: Junos' columns; an SA still negotiating
    is DOWN, an established one UP."""
    rows = []
    for sa in security_associations(data, peer):
        def leaf(name: str, sa: etree._Element = sa) -> str:
            return (sa.findtext(_ike(name)) or "").strip()

        rows.append([
            leaf("index"),
            "UP" if leaf("state") == "established" else "DOWN",
            leaf("initiator-cookie"),
            leaf("responder-cookie"),
            leaf("exchange-mode").capitalize(),
            leaf("remote-address"),
        ])
    if not rows:
        return "No IKE security associations\n" if peer is None else (
            f"No IKE security associations with {peer}\n")
    return table(["Index", "State", "Initiator cookie", "Responder cookie", "Mode",
                  "Remote Address"], rows)


def statistics_table(data: etree._Element) -> str:
    """``show security ike statistics``: negotiation counters per peer (issue #13's
    ``security/ike/statistics/peer``), with the last failure and its time."""
    rows = []
    for peer in data.iterfind(f"{_ike('security')}/{_ike('ike')}/{_ike('statistics')}/"
                              f"{_ike('peer')}"):
        def leaf(name: str, peer: etree._Element = peer) -> str:
            return (peer.findtext(_ike(name)) or "").strip()

        last = " ".join(p for p in (leaf("last-failure-time"), leaf("last-failure-reason")) if p)
        rows.append([leaf("address"), leaf("negotiations-started") or "0",
                     leaf("established") or "0", leaf("failed-no-proposal") or "0",
                     leaf("failed-authentication") or "0", leaf("failed-timeout") or "0",
                     last or "-"])
    if not rows:
        return "No IKE negotiations since the agent started\n"
    return table(["Peer", "Started", "Established", "No proposal", "Authentication",
                  "Timeout", "Last failure"], rows)


SYSTEM_NS = "urn:ike-agent:yang:ike-agent-system"
MODULES[SYSTEM_NS] = "ike-agent-system"


def commit_history_text(data: etree._Element) -> str:
    """``show commit-history``, as Junos ``show system commit``: one line per commit (index,
    time, user, how), its comment below it."""
    def sys_tag(name: str) -> str:
        return f"{{{SYSTEM_NS}}}{name}"

    lines = []
    for commit in data.iterfind(f"{sys_tag('commit-history')}/{sys_tag('commit')}"):
        def leaf(name: str, commit: etree._Element = commit) -> str:
            return (commit.findtext(sys_tag(name)) or "").strip()

        client = leaf("client")
        session = leaf("session-id")
        how = "via netconf" + (f" from {client}" if client else "") + (
            f" (session {session})" if session else "")
        lines.append(f"{leaf('index'):<3} {leaf('timestamp')} by {leaf('user') or '-'} {how}")
        if leaf("confirmed") == "true":
            lines.append("    commit confirmed, not yet confirmed")
        if leaf("comment"):
            lines.append(f"    {leaf('comment')}")
    return "".join(line + "\n" for line in lines) or "No commits\n"
