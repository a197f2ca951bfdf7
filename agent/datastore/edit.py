"""``<edit-config>`` semantics on lxml trees (RFC 6241 section 7.2, RFC 7950 section 7.8.6).

Theory of operation: the edit walks the ``<config>`` content and the target tree side by side.
Every change to the target goes through a :class:`Journal` that records how to redo and undo
it, so an edit that fails (stop-on-error, rollback-on-error, test-only) is undone exactly
without copying the whole datastore. The journal also describes each change in model terms
(:mod:`agent.datastore.changes`): what validation re-checks, and what subscribers are told.
List entries are found by key through the :class:`KeyIndex` (any list of any module).

Children are kept in schema order (keys first) and list / leaf-list entries in the order they
were created or positioned with ``insert``, so serialising the tree is deterministic.
"""

from __future__ import annotations

import enum

from lxml import etree

from agent.datastore.journal import Journal
from agent.datastore.keyindex import KeyIndex
from agent.datastore.paths import element_path, path_step
from agent.datastore.schema import NodeKind, Schema, SchemaNode
from agent.errors import ErrorTag, ErrorType, RpcError

NETCONF_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
YANG_NS = "urn:ietf:params:xml:ns:yang:1"
OPERATION_ATTR = f"{{{NETCONF_NS}}}operation"
INSERT_ATTR = f"{{{YANG_NS}}}insert"
VALUE_ATTR = f"{{{YANG_NS}}}value"
KEY_ATTR = f"{{{YANG_NS}}}key"


class Operation(enum.StrEnum):
    """RFC 6241 section 7.2, the ``operation`` attribute (plus default-operation none)."""

    MERGE = "merge"
    REPLACE = "replace"
    CREATE = "create"
    DELETE = "delete"
    REMOVE = "remove"
    NONE = "none"


class ErrorOption(enum.StrEnum):
    STOP_ON_ERROR = "stop-on-error"
    CONTINUE_ON_ERROR = "continue-on-error"
    ROLLBACK_ON_ERROR = "rollback-on-error"


_ATTR_OPERATIONS = frozenset(op.value for op in Operation if op is not Operation.NONE)
_CREATING = (Operation.MERGE, Operation.REPLACE, Operation.CREATE)


def clip(text: str, limit: int = 64) -> str:
    """Client-supplied text as quoted in an error message: bounded."""
    return text if len(text) <= limit else text[:limit] + "..."


def _error(tag: ErrorTag, message: str, **kwargs: object) -> RpcError:
    return RpcError(ErrorType.APPLICATION, tag, message, **kwargs)  # type: ignore[arg-type]


class _Failed(Exception):
    """Internal: one edit error; carries the RpcError."""

    def __init__(self, error: RpcError) -> None:
        super().__init__(error.message)
        self.error = error


class EditEngine:
    """Applies one ``<config>`` to a ``<data>`` tree of top-level nodes."""

    def __init__(
        self,
        schema: Schema,
        journal: Journal,
        default_operation: Operation,
        error_option: ErrorOption,
        index: KeyIndex,
    ) -> None:
        self.schema = schema
        self.index = index
        self.journal = journal
        self.default_operation = default_operation
        self.error_option = error_option
        self.errors: list[RpcError] = []
        self._root_order = {tag: i for i, tag in enumerate(schema.roots)}
        data_namespaces = {node.namespace for node in schema.roots.values()}
        self._ns_prefixes = tuple(
            (prefix, ns) for ns, prefix in schema.prefixes.items() if ns in data_namespaces
        )

    # -- entry point -------------------------------------------------------------------

    def apply(self, target: etree._Element, config: etree._Element) -> None:
        """Apply ``config``'s children to ``target``; errors end up in ``self.errors``."""
        self._edit_children(target, None, config, self.default_operation)

    # -- helpers ------------------------------------------------------------------------

    def record(self, error: RpcError) -> None:
        if not any(e is error for e in self.errors):
            self.errors.append(error)

    def _fail(self, error: RpcError) -> None:
        self.record(error)
        if self.error_option is not ErrorOption.CONTINUE_ON_ERROR:
            raise _Failed(error)

    def _path(self, target_parent: etree._Element, edit: etree._Element) -> str:
        """Path of the node ``edit`` describes, below ``target_parent``."""
        node = self._parent_schema(target_parent).get(edit.tag)  # type: ignore[call-overload]
        return element_path(target_parent, self.schema) + path_step(edit, node, self.schema)

    def _err(self, tag: ErrorTag, message: str, target_parent: etree._Element,
             edit: etree._Element, **kwargs: object) -> RpcError:
        return _error(
            tag,
            message,
            path=self._path(target_parent, edit),
            path_namespaces=self._ns_prefixes,
            **kwargs,
        )

    def _operation(self, edit: etree._Element, inherited: Operation,
                   target_parent: etree._Element) -> Operation:
        raw = edit.get(OPERATION_ATTR)
        if raw is None:
            return inherited
        if raw not in _ATTR_OPERATIONS:
            raise _Failed(self._err(
                ErrorTag.BAD_ATTRIBUTE,
                f"Invalid operation {raw[:32]!r}: use merge, replace, create, delete or remove.",
                target_parent, edit,
                info=(("bad-attribute", "operation"), ("bad-element", etree.QName(edit).localname)),
            ))
        return Operation(raw)

    def _schema_node(self, edit: etree._Element, siblings: dict[str, SchemaNode],
                     target_parent: etree._Element) -> SchemaNode:
        qname = etree.QName(edit)
        if qname.namespace not in self.schema.namespaces:
            raise _Failed(self._err(
                ErrorTag.UNKNOWN_NAMESPACE,
                f"Unknown namespace {clip(qname.namespace or '(none)')!r} "
                f"of element {clip(qname.localname)!r}.",
                target_parent, edit,
                info=(("bad-element", qname.localname), ("bad-namespace", qname.namespace or "")),
            ))
        node = siblings.get(edit.tag)  # type: ignore[call-overload]
        if node is None:
            raise _Failed(self._err(
                ErrorTag.UNKNOWN_ELEMENT,
                f"Unknown element {clip(qname.localname)!r} here.",
                target_parent, edit,
                info=(("bad-element", qname.localname),),
            ))
        if not node.config:
            raise _Failed(self._err(
                ErrorTag.INVALID_VALUE,
                f"{qname.localname!r} is state data and cannot be configured.",
                target_parent, edit,
                info=(("bad-element", qname.localname),),
            ))
        return node

    def _edit_children(self, target: etree._Element, schema_node: SchemaNode | None,
                       edit_parent: etree._Element, inherited: Operation) -> None:
        siblings = self.schema.roots if schema_node is None else schema_node.children
        for edit in edit_parent:
            if not isinstance(edit.tag, str):  # comments, processing instructions
                continue
            try:
                if self._is_key(schema_node, edit, target):
                    continue  # keys identify the entry; they are never edited
                node = self._schema_node(edit, siblings, target)
                op = self._operation(edit, inherited, target)
                self._edit_node(target, node, edit, op)
            except _Failed as failed:
                self.record(failed.error)
                if self.error_option is not ErrorOption.CONTINUE_ON_ERROR:
                    raise
                # continue-on-error: the error is recorded; go on with the next sibling.

    def _is_key(self, schema_node: SchemaNode | None, edit: etree._Element,
                target: etree._Element) -> bool:
        if schema_node is None or edit.tag not in schema_node.key_tags:
            return False
        name = etree.QName(edit).localname
        if edit.get(OPERATION_ATTR) in (Operation.DELETE.value, Operation.REMOVE.value):
            raise _Failed(self._err(
                ErrorTag.BAD_ATTRIBUTE,
                f"The key {name!r} cannot be deleted on its own: delete the list entry.",
                target, edit,
                info=(("bad-attribute", "operation"), ("bad-element", name)),
            ))
        return True

    # -- one node -----------------------------------------------------------------------

    def _edit_node(self, target: etree._Element, node: SchemaNode, edit: etree._Element,
                   op: Operation) -> None:
        existing = self._find(target, node, edit)
        if op is Operation.CREATE and existing is not None:
            self._fail(self._err(ErrorTag.DATA_EXISTS, f"{node.name!r} already exists.",
                                 target, edit))
            return
        if op is Operation.DELETE and existing is None:
            self._fail(self._err(ErrorTag.DATA_MISSING, f"{node.name!r} does not exist.",
                                 target, edit))
            return
        if op in (Operation.DELETE, Operation.REMOVE):
            if existing is not None:
                self.journal.remove(existing)
            return
        if op is Operation.NONE:
            if existing is not None:
                if node.is_term:
                    return
                self._edit_children(existing, node, edit, op)
            elif _has_operation(edit, skip=Operation.REMOVE):
                self._fail(self._err(
                    ErrorTag.DATA_MISSING,
                    f"{node.name!r} does not exist (default-operation none).",
                    target, edit,
                ))
            else:  # what the payload names must exist in the model, then in the datastore
                self._check_known(target, node, edit)
                absent = _absent_level(node, edit)
                if absent is not None:
                    self._fail(self._err(
                        ErrorTag.DATA_MISSING,
                        f"{etree.QName(absent).localname!r} does not exist "
                        "(default-operation none).", target, edit,
                    ))
            return
        # merge, replace or create
        if existing is None:
            self._create(target, node, edit, op)
            return
        if node.kind is NodeKind.LEAF:
            if (node.prefixed_value and _may_hold_prefixes(edit.text)
                    and edit.text != existing.text):
                index = target.index(existing)  # a new element, with the edit's prefixes
                self.journal.remove(existing)
                self._create(target, node, edit, op, index=index)
            else:
                self.journal.set_text(existing, edit.text)
        elif node.kind is NodeKind.LEAF_LIST:
            self._move_if_inserted(target, node, edit, existing)
        elif op is Operation.REPLACE:
            index = target.index(existing)
            self.journal.remove(existing)
            self._create(target, node, edit, op, index=index)
        else:
            if node.kind is NodeKind.LIST:
                self._move_if_inserted(target, node, edit, existing)
            self._edit_children(existing, node, edit, op)

    def _check_known(self, target: etree._Element, node: SchemaNode,
                     edit: etree._Element) -> None:
        """Refuse an element the schema does not know anywhere below ``edit`` (a subtree the
        edit leaves alone is not walked by the edit itself), and a list entry without its keys."""
        for key in node.keys if node.kind is NodeKind.LIST else ():
            if edit.find(f"{{{node.namespace}}}{key}") is None:
                raise _Failed(self._err(
                    ErrorTag.MISSING_ELEMENT,
                    f"List entry {node.name!r} lacks its key {key!r}.",
                    target, edit, info=(("bad-element", key),),
                ))
        for element in edit:
            if not isinstance(element.tag, str):
                continue
            child = self._schema_node(element, node.children, target)
            self._check_known(target, child, element)

    def _move_if_inserted(self, target: etree._Element, node: SchemaNode,
                          edit: etree._Element, existing: etree._Element) -> None:
        """An existing list or leaf-list entry with an ``insert`` attribute moves there."""
        if edit.get(INSERT_ATTR) is not None:
            self.journal.remove(existing)
            self.journal.insert(target, self._position(target, node, edit), existing)

    def _create(self, target: etree._Element, node: SchemaNode, edit: etree._Element,
                op: Operation, index: int | None = -1) -> None:
        nsmap: dict[str | None, str] = {None: node.namespace}
        if node.parent is None and node.tag in self.schema.prefixed_roots:
            # Values below (a NACM rule's path) name modules by prefix (RFC 7950 section
            # 9.13.2), but the declarations of a request do not survive the move of its
            # elements into the datastore: the modules' own prefixes are declared here.
            nsmap.update(self.schema.datastore_prefixes)
        elif node.prefixed_value and _may_hold_prefixes(edit.text):
            nsmap.update((k, v) for k, v in edit.nsmap.items() if k)
        new = etree.Element(node.tag, nsmap=nsmap)  # type: ignore[arg-type]
        if node.kind is NodeKind.LIST:
            for key in node.keys:
                key_edit = edit.find(f"{{{node.namespace}}}{key}")
                assert key_edit is not None  # checked by _find
                etree.SubElement(new, key_edit.tag).text = key_edit.text  # type: ignore[arg-type]
        elif node.is_term:
            new.text = edit.text
        if index == -1:
            index = self._position(target, node, edit)
        self.journal.insert(target, index, new)
        self._drop_other_cases(target, node, new)
        if node.kind in (NodeKind.CONTAINER, NodeKind.LIST):
            self._edit_children(new, node, edit, Operation.MERGE if op is Operation.REPLACE else op)

    def _drop_other_cases(self, target: etree._Element, node: SchemaNode,
                          new: etree._Element) -> None:
        """RFC 7950 section 7.9: creating a node of one case removes the other cases' nodes."""
        if not node.cases:
            return
        parent_schema = self._sibling_nodes(node)
        for sibling in list(target):
            if sibling is new or not isinstance(sibling.tag, str):
                continue
            other = parent_schema.get(sibling.tag)
            if other is None or not other.cases:
                continue
            for (choice, case), (other_choice, other_case) in zip(node.cases, other.cases,
                                                                   strict=False):
                if choice != other_choice:
                    break
                if case != other_case:
                    self.journal.remove(sibling)
                    break

    def _schema_of(self, target: etree._Element) -> SchemaNode | None:
        """The schema node of a target element (None for the ``<data>`` root)."""
        chain: list[etree._Element] = []
        el: etree._Element | None = target
        while el is not None and el.getparent() is not None:
            chain.append(el)
            el = el.getparent()
        node: SchemaNode | None = None
        for ancestor in reversed(chain):
            children = self.schema.roots if node is None else node.children
            node = children[ancestor.tag]  # type: ignore[index]
        return node

    def _parent_schema(self, target: etree._Element) -> dict[str, SchemaNode]:
        node = self._schema_of(target)
        return self.schema.roots if node is None else node.children

    def _sibling_nodes(self, node: SchemaNode) -> dict[str, SchemaNode]:
        return self.schema.roots if node.parent is None else node.parent.children

    def _sibling_order(self, node: SchemaNode) -> dict[str, int]:
        return self._root_order if node.parent is None else node.parent.order

    # -- finding and positioning ----------------------------------------------------------

    def _find(self, target: etree._Element, node: SchemaNode,
              edit: etree._Element) -> etree._Element | None:
        tag = node.tag
        if node.kind is NodeKind.LIST:
            key_values: list[str] = []
            for key in node.keys:
                key_edit = edit.find(f"{{{node.namespace}}}{key}")
                if key_edit is None:
                    raise _Failed(self._err(
                        ErrorTag.MISSING_ELEMENT,
                        f"List entry {node.name!r} lacks its key {key!r}.",
                        target, edit,
                        info=(("bad-element", key),),
                    ))
                key_values.append(key_edit.text or "")
            return self.index.entries(target, node).get(tuple(key_values))
        if node.kind is NodeKind.LEAF_LIST:
            value = edit.text or ""
            return next((el for el in target.iterchildren(tag) if (el.text or "") == value), None)
        return target.find(tag)

    def _position(self, target: etree._Element, node: SchemaNode,
                  edit: etree._Element) -> int | None:
        """Index at which a new node goes (None: append): schema order, or ``insert``."""
        insert = edit.get(INSERT_ATTR)
        if insert is not None:
            return self._insert_position(target, node, edit, insert)
        order = self._sibling_order(node)
        rank = order.get(node.tag, len(order))
        # From the end: appending after the last child is the usual case (new list entries).
        for position, child in enumerate(target.iterchildren(reversed=True)):
            child_rank = order.get(child.tag, len(order)) if isinstance(child.tag, str) else -1
            if child_rank <= rank:
                return None if position == 0 else target.index(child) + 1
        return 0

    def _insert_position(self, target: etree._Element, node: SchemaNode,
                         edit: etree._Element, insert: str) -> int:
        """RFC 7950 section 7.8.6 (leaf-list) and 7.7.9 (list): first, last, before, after."""
        name = node.name
        if not node.user_ordered:
            raise _Failed(self._err(
                ErrorTag.BAD_ATTRIBUTE, f"{name!r} is not ordered-by user: insert is not allowed.",
                target, edit, info=(("bad-attribute", "insert"), ("bad-element", name)),
            ))
        entries = list(target.iterchildren(node.tag))
        if insert in ("first", "last"):
            if not entries:
                return self._position_without_insert(target, node)
            return target.index(entries[0]) if insert == "first" else target.index(entries[-1]) + 1
        if insert not in ("before", "after"):
            raise _Failed(self._err(
                ErrorTag.BAD_ATTRIBUTE,
                f"Invalid insert {insert[:32]!r}: use first, last, before or after.",
                target, edit, info=(("bad-attribute", "insert"), ("bad-element", name)),
            ))
        attr = VALUE_ATTR if node.kind is NodeKind.LEAF_LIST else KEY_ATTR
        attr_name = etree.QName(attr).localname
        reference = edit.get(attr)
        if reference is None:
            raise _Failed(self._err(
                ErrorTag.MISSING_ATTRIBUTE, f"insert={insert!r} needs the {attr_name!r} attribute.",
                target, edit, info=(("bad-attribute", attr_name), ("bad-element", name)),
            ))
        anchor = next((el for el in entries if self._entry_id(el, node) == reference), None)
        if anchor is None:
            # RFC 7950 section 15.7.
            raise _Failed(self._err(
                ErrorTag.BAD_ATTRIBUTE,
                f"insert {insert} {reference[:64]!r}: no such {name!r} entry.",
                target, edit, app_tag="missing-instance",
                info=(("bad-attribute", attr_name), ("bad-element", name)),
            ))
        index = target.index(anchor)
        return index if insert == "before" else index + 1

    def _position_without_insert(self, target: etree._Element, node: SchemaNode) -> int:
        order = self._sibling_order(node)
        rank = order.get(node.tag, len(order))
        for index, child in enumerate(target):
            if isinstance(child.tag, str) and order.get(child.tag, len(order)) > rank:
                return index
        return len(target)

    @staticmethod
    def _entry_id(element: etree._Element, node: SchemaNode) -> str:
        if node.kind is NodeKind.LEAF_LIST:
            return element.text or ""
        # RFC 7950 section 7.8.6: key attribute is a key predicate, e.g. [name='x'].
        parts = []
        for key in node.keys:
            key_el = element.find(f"{{{node.namespace}}}{key}")
            parts.append(f"[{key}='{key_el.text if key_el is not None else ''}']")
        return "".join(parts)


def _may_hold_prefixes(text: str | None) -> bool:
    return text is not None and ":" in text


def _absent_level(node: SchemaNode, edit: etree._Element) -> etree._Element | None:
    """RFC 6241 section 7.2, default-operation none: "If the configuration in the <config>
    parameter contains data for which there is not a corresponding level in the target
    datastore, an <rpc-error> is returned with an <error-tag> value of data-missing." The
    first such node below ``edit`` (whose ``node`` does not exist), or None: a non-presence
    container exists implicitly (its children are looked at), so does a leaf with a default,
    and a subtree holding ``remove`` (the only operation left here) removes what is not there,
    which RFC 6241 lets pass silently."""
    if node.kind is NodeKind.CONTAINER and not node.presence:
        for element in edit:
            child = node.children.get(element.tag) if isinstance(element.tag, str) else None
            if child is not None and element.get(OPERATION_ATTR) is None:
                found = _absent_level(child, element)
                if found is not None:
                    return found
        return None
    if node.kind is NodeKind.LEAF and node.default is not None:
        return None
    return None if _has_operation(edit, skip=Operation.NONE) else edit


def _has_operation(edit: etree._Element, skip: Operation) -> bool:
    return any(
        el.get(OPERATION_ATTR) not in (None, skip.value)
        for el in edit.iter()
        if isinstance(el.tag, str)
    )


def apply_edit(
    schema: Schema,
    target: etree._Element,
    config: etree._Element,
    *,
    index: KeyIndex,
    default_operation: Operation,
    error_option: ErrorOption,
) -> Journal:
    """Apply ``config`` to ``target`` and return the journal (its ``errors`` list the faults).

    On an error with stop-on-error or rollback-on-error the edit is undone before returning;
    with continue-on-error what succeeded stays. The caller may still undo the journal
    (test-only, failed test-then-set) and reads its changes to limit validation. ``index``
    finds ``target``'s list entries by key and is kept up to date (undo included).
    """
    journal = Journal(schema, index)
    engine = EditEngine(schema, journal, default_operation, error_option, index)
    try:
        engine.apply(target, config)
    except _Failed as failed:
        engine.record(failed.error)
        journal.undo()
    journal.errors = engine.errors
    return journal
