"""``<get>`` (RFC 6241 section 7.7) and ``<get-schema>`` (RFC 6022 section 3.1).

``<get>`` returns the running configuration merged with every operational-state source: the
extensions' state (e.g. the IKE security associations), ``/netconf-state`` (RFC 6022) and
``/yang-library`` (RFC 8525).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence

from lxml import etree

from agent.extensions import RpcContext, RpcHandler
from agent.netconf.filters import apply_filter, canonical_filter, may_select
from agent.netconf.library import ModuleLibrary
from agent.netconf.operations import Reply
from agent.netconf.ports import DatastoreLike
from agent.netconf.with_defaults import DefaultsApplier, apply_mode
from agent.netconf.xmlutil import (
    BASE_NS,
    MONITORING_NS,
    attributes,
    child,
    element_children,
    missing,
    new_element,
)

StateSource = Callable[[], Sequence[etree._Element]]


def merge_state(target: etree._Element, element: etree._Element) -> None:
    """Merge a state subtree into ``target``: containers met on both sides are merged, the
    rest is appended."""
    existing = next((c for c in element_children(target) if c.tag == element.tag), None)
    if existing is not None and element_children(element) and element_children(existing):
        for sub in element_children(element):
            merge_state(existing, sub)
    else:
        target.append(copy.deepcopy(element))


def _monitoring_child(operation: etree._Element, name: str) -> str | None:
    element = child(operation, name, MONITORING_NS)
    return None if element is None else (element.text or "").strip()


class StateOperations:
    def __init__(
        self,
        datastore: DatastoreLike,
        library: ModuleLibrary,
        state_sources: Sequence[StateSource],
        defaults: DefaultsApplier | None = None,
    ) -> None:
        self.datastore = datastore
        self._defaults = defaults
        self.library = library
        self.state_sources = state_sources

    def handlers(self) -> Mapping[tuple[str, str], RpcHandler]:
        return {
            (BASE_NS, "get"): self.get,
            (MONITORING_NS, "get-schema"): self.get_schema,
        }

    async def get(self, context: RpcContext, operation: etree._Element) -> Reply:
        filter_element = canonical_filter(child(operation, "filter"), self.datastore.canonicalise)
        # State is merged into the configuration, so this is a copy of running; only of the
        # top-level subtrees the filter may select (a filter on /netconf-state copies none).
        running = self.datastore.snapshot().data
        data = new_element(running.tag, running.nsmap, attributes(running))
        for top in element_children(running):
            if may_select(filter_element, top):
                data.append(copy.deepcopy(top))
        for source in self.state_sources:
            for element in source():
                if may_select(filter_element, element):
                    merge_state(data, element)
        apply_mode(data, operation, self._defaults)  # RFC 6243 with-defaults, on this copy
        if context.access is not None:  # after the defaults, before the filter: get-config
            data = context.access.readable(data)
        return [apply_filter(data, filter_element, self.library.list_keys)]

    async def get_schema(self, context: RpcContext, operation: etree._Element) -> Reply:
        identifier = _monitoring_child(operation, "identifier")
        if not identifier:
            raise missing("identifier", "get-schema")
        module = self.library.find(
            identifier,
            _monitoring_child(operation, "version"),
            _monitoring_child(operation, "format"),
        )
        data = new_element(f"{{{MONITORING_NS}}}data", nsmap={None: MONITORING_NS})
        data.text = module.path.read_text(encoding="utf-8")
        return [data]
