"""The ``<with-defaults>`` parameter of get and get-config (RFC 6243 section 4.5).

The server's basic mode is ``explicit`` (section 3.3): what clients set is what is reported,
a leaf set to its default value included. ``report-all``, ``report-all-tagged`` and ``trim``
are also supported (the capability says so, section 4.3); they are applied to a copy of the
retrieved tree by the datastore's :data:`DefaultsApplier`, before the filter.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from lxml import etree

from agent.netconf.xmlutil import bad_value, child, not_supported

WITH_DEFAULTS_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-with-defaults"
CAPABILITY = (
    "urn:ietf:params:netconf:capability:with-defaults:1.0"
    "?basic-mode=explicit&also-supported=report-all,report-all-tagged,trim"
)
MODES = ("explicit", "report-all", "report-all-tagged", "trim")

# Applies a retrieval mode to a ``<data>`` tree, in place (agent.datastore.defaults).
DefaultsApplier = Callable[[etree._Element, str], None]


def requested_mode(operation: etree._Element) -> str:
    """The ``<with-defaults>`` mode asked for; ``explicit`` (the basic mode) without one."""
    element = child(operation, "with-defaults", WITH_DEFAULTS_NS)
    if element is None:
        return "explicit"
    mode = (element.text or "").strip()
    if mode not in MODES:
        raise bad_value("with-defaults", f"<with-defaults> must be one of {', '.join(MODES)}")
    return mode


def apply_mode(
    data: etree._Element, operation: etree._Element, applier: DefaultsApplier | None
) -> None:
    """Apply the operation's with-defaults mode to ``data`` (the caller's copy), in place."""
    mode = requested_mode(operation)
    if mode == "explicit":
        return
    if applier is None:
        raise not_supported("with-defaults", f"with-defaults {mode!r} is not available here")
    applier(data, mode)


def retrieved(
    data: etree._Element, operation: etree._Element, applier: DefaultsApplier | None
) -> etree._Element:
    """``data`` as the operation's with-defaults mode reports it (a copy unless explicit)."""
    if requested_mode(operation) == "explicit":
        return data
    shown = copy.deepcopy(data)
    apply_mode(shown, operation, applier)
    return shown
