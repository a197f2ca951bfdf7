"""Route an ``<rpc>``'s operation element to its handler by (namespace, local name).

Unknown operations get the RFC 6241 Appendix A answer: ``unknown-namespace`` when nobody
serves that namespace, ``operation-not-supported`` when the namespace is known but not the
name. A known base operation with an unexpected parameter is refused
(:mod:`agent.netconf.operation_children`). Any exception that is not a :class:`NetconfError`
is a bug: it is logged with its traceback and the client only sees ``operation-failed`` with
a generic message. A known operation the user may not invoke is refused here, before its
handler runs (RFC 8341 section 3.4.4: ``access-denied``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from lxml import etree

from agent.errors import ErrorTag, ErrorType, NetconfError, RpcError
from agent.extensions import RpcContext, RpcHandler
from agent.netconf.operation_children import check_children
from agent.netconf.xmlutil import BASE_NS, not_supported, qname

log = logging.getLogger("agent.netconf")


class Dispatcher:
    def __init__(self) -> None:
        self._handlers: dict[tuple[str, str], RpcHandler] = {}

    def register(self, namespace: str, name: str, handler: RpcHandler) -> None:
        key = (namespace, name)
        if key in self._handlers:
            raise ValueError(f"two handlers for {{{namespace}}}{name}")
        self._handlers[key] = handler

    def register_all(self, handlers: Mapping[tuple[str, str], RpcHandler]) -> None:
        for (namespace, name), handler in handlers.items():
            self.register(namespace, name, handler)

    def operation_name(self, operation: etree._Element) -> str:
        """The local name of a served operation, else ``"unknown"`` (a metric label: what
        clients send must not grow the set of label values)."""
        namespace, name = qname(operation)
        known = (namespace or BASE_NS, name) in self._handlers
        return name if known else "unknown"

    def _lookup(self, context: RpcContext, operation: etree._Element) -> RpcHandler:
        namespace, name = qname(operation)
        if not namespace:
            namespace = BASE_NS  # lenient: an un-namespaced base operation
        handler = self._handlers.get((namespace, name))
        if handler is not None:
            if context.access is not None:
                context.access.check_rpc(namespace, name)
            check_children(operation, namespace, name)
            return handler
        if not any(ns == namespace for ns, _ in self._handlers):
            raise NetconfError(
                RpcError(
                    ErrorType.PROTOCOL,
                    ErrorTag.UNKNOWN_NAMESPACE,
                    f"no operation is known in namespace {namespace!r}",
                    info=(("bad-element", name), ("bad-namespace", namespace)),
                )
            )
        raise not_supported(name, f"operation {name!r} is not supported")

    async def dispatch(
        self, context: RpcContext, operation: etree._Element
    ) -> Sequence[etree._Element] | NetconfError:
        try:
            handler = self._lookup(context, operation)
            return await handler(context, operation)
        except NetconfError as exc:
            return exc
        except Exception:
            log.exception(
                "[session %d] internal error in <%s>",
                context.session_id,
                etree.QName(operation).localname,
            )
            return NetconfError.single(
                ErrorType.APPLICATION, ErrorTag.OPERATION_FAILED, "internal error"
            )
