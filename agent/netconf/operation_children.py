"""The parameters each base operation accepts (RFC 6241 sections 7 and 8, RFC 6022 3.1).

An unexpected child of a known operation is refused rather than ignored, as RFC 6241 Appendix A
asks: ``unknown-element`` (error-info ``bad-element``) for a child in the operation's namespace
(or none: some clients leave it out), ``unknown-namespace`` (``bad-element`` and
``bad-namespace``) for one in any other namespace. Operations not listed here (those of
extensions) check their own parameters.
"""

from __future__ import annotations

from collections.abc import Mapping

from lxml import etree

from agent.errors import ErrorTag, ErrorType, NetconfError, RpcError
from agent.netconf.with_defaults import WITH_DEFAULTS_NS
from agent.netconf.xmlutil import BASE_NS, MONITORING_NS, SYSTEM_NS, element_children, qname

BASE_OPERATION_CHILDREN: Mapping[tuple[str, str], frozenset[str]] = {
    (BASE_NS, name): frozenset(children)
    for name, children in {
        "get-config": ("source", "filter"),
        "edit-config": (
            "target", "default-operation", "test-option", "error-option", "config", "url",
        ),
        "copy-config": ("target", "source"),
        "lock": ("target",),
        "unlock": ("target",),
        "get": ("filter",),
        "close-session": (),
        "kill-session": ("session-id",),
        "commit": ("confirmed", "confirm-timeout", "persist", "persist-id"),
        "cancel-commit": ("persist-id",),
        "discard-changes": (),
        "validate": ("source",),
    }.items()
} | {(MONITORING_NS, "get-schema"): frozenset(("identifier", "version", "format"))}
# Parameters in another module's namespace, by operation: RFC 6243 with-defaults.
FOREIGN_CHILDREN: Mapping[tuple[str, str], frozenset[tuple[str, str]]] = {
    (BASE_NS, name): frozenset(((WITH_DEFAULTS_NS, "with-defaults"),))
    for name in ("get", "get-config")
} | {(BASE_NS, "commit"): frozenset(((SYSTEM_NS, "comment"),))}  # ike-agent-system augment


def check_children(
    operation: etree._Element,
    namespace: str,
    name: str,
    known: Mapping[tuple[str, str], frozenset[str]] = BASE_OPERATION_CHILDREN,
) -> None:
    """Raise NetconfError for every child the operation ``{namespace}name`` does not define."""
    allowed = known.get((namespace, name))
    if allowed is None:
        return
    errors = []
    foreign = FOREIGN_CHILDREN.get((namespace, name), frozenset())
    for element in element_children(operation):
        child_namespace, child_name = qname(element)
        if (child_namespace, child_name) in foreign:
            continue
        if child_namespace not in (namespace, ""):
            errors.append(RpcError(
                ErrorType.PROTOCOL, ErrorTag.UNKNOWN_NAMESPACE,
                f"<{name}> has no parameter <{child_name[:64]}> in namespace "
                f"{child_namespace[:128]!r}",
                info=(("bad-element", child_name), ("bad-namespace", child_namespace)),
            ))
        elif child_name not in allowed:
            errors.append(RpcError(
                ErrorType.PROTOCOL, ErrorTag.UNKNOWN_ELEMENT,
                f"<{name}> has no parameter <{child_name[:64]}>",
                info=(("bad-element", child_name),),
            ))
        if len(errors) >= 16:  # enough to fix the request; do not echo a flood back
            break
    if errors:
        raise NetconfError(*errors)
