"""NETCONF errors (RFC 6241 section 4.3 and Appendix A).

One exception family for the whole agent: anything that must reach a client as an
``<rpc-error>`` is raised as :class:`NetconfError`, carrying one or more :class:`RpcError`
records. They are turned into XML at exactly one boundary (the session's reply builder).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorType(StrEnum):
    """RFC 6241 section 4.3, error-type."""

    TRANSPORT = "transport"
    RPC = "rpc"
    PROTOCOL = "protocol"
    APPLICATION = "application"


class ErrorTag(StrEnum):
    """RFC 6241 Appendix A, error-tag."""

    IN_USE = "in-use"
    INVALID_VALUE = "invalid-value"
    TOO_BIG = "too-big"
    MISSING_ATTRIBUTE = "missing-attribute"
    BAD_ATTRIBUTE = "bad-attribute"
    UNKNOWN_ATTRIBUTE = "unknown-attribute"
    MISSING_ELEMENT = "missing-element"
    BAD_ELEMENT = "bad-element"
    UNKNOWN_ELEMENT = "unknown-element"
    UNKNOWN_NAMESPACE = "unknown-namespace"
    ACCESS_DENIED = "access-denied"
    LOCK_DENIED = "lock-denied"
    RESOURCE_DENIED = "resource-denied"
    ROLLBACK_FAILED = "rollback-failed"
    DATA_EXISTS = "data-exists"
    DATA_MISSING = "data-missing"
    OPERATION_NOT_SUPPORTED = "operation-not-supported"
    OPERATION_FAILED = "operation-failed"
    PARTIAL_OPERATION = "partial-operation"
    MALFORMED_MESSAGE = "malformed-message"


@dataclass(frozen=True, slots=True)
class RpcError:
    """One ``<rpc-error>``.

    ``info`` holds the children of ``<error-info>`` as (local name, text) pairs in the base
    namespace, e.g. ``("session-id", "7")`` for lock-denied or ``("bad-element", "x")``.
    ``path`` is an instance-identifier; ``path_namespaces`` maps the prefixes it uses.
    """

    type: ErrorType
    tag: ErrorTag
    message: str
    app_tag: str | None = None
    path: str | None = None
    path_namespaces: tuple[tuple[str, str], ...] = ()
    info: tuple[tuple[str, str], ...] = ()
    severity: str = "error"


class NetconfError(Exception):
    """Raised to answer an RPC with one or more ``<rpc-error>`` elements."""

    def __init__(self, *errors: RpcError) -> None:
        if not errors:
            raise ValueError("NetconfError needs at least one RpcError")
        super().__init__("; ".join(e.message for e in errors))
        self.errors: tuple[RpcError, ...] = errors

    @classmethod
    def single(
        cls,
        type: ErrorType,
        tag: ErrorTag,
        message: str,
        **kwargs: object,
    ) -> NetconfError:
        return cls(RpcError(type, tag, message, **kwargs))  # type: ignore[arg-type]

