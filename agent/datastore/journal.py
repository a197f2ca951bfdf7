"""The journal of an edit: every mutation of a datastore tree, to redo, undo, describe and store.

Theory of operation. The edit engine changes a tree only through a :class:`Journal`: insert a
node, remove a node, set a leaf's text. Each mutation is made at once and kept as an
:class:`_Op` holding a way to redo it and a way to undo it (the same objects: no copies), the
:class:`agent.datastore.changes.Change` it makes, and what it takes to make it again on
another copy of the tree (the path of the node by schema keys, the insert position, the
inserted subtree's bytes). Mutations inside a node the same edit created are absorbed into
that node: undoing, redoing or storing the node covers them.

The operations are exact, not idempotent: replayed in order on the tree they were made on,
they give the same tree, node for node and position for position. That is what the datastore
needs twice: to move its one tree between running and the candidate
(:mod:`agent.datastore.store`), and to store a commit as a record of its operations, replayed
on the snapshot at the next start (:func:`encode` / :func:`apply_record`,
:mod:`agent.datastore.commitlog`).

Record format (XML, namespace ``urn:ike-agent:datastore:1``)::

    <commit generation="N">
      <insert at="STEPS" index="I">subtree</insert>   index absent: append
      <remove at="STEPS"/>
      <set at="STEPS">text</set>                      none="true": no text
    </commit>

``STEPS`` is JSON: ``[[clark-tag, [key values]], ...]`` from the top (an insert names its
parent; ``[]`` is the ``<data>`` root), the key values as in a change's ``steps``. Given a
:class:`agent.datastore.sealing.Sealing`, the values of secret leaves in an inserted subtree
and a secret leaf's text set are stored sealed (:meth:`Journal.seal`) and opened on replay.
"""

from __future__ import annotations

import itertools
import json
import pathlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

from agent.datastore.changes import Change, ChangeOp, Step
from agent.datastore.keyindex import KeyIndex
from agent.datastore.paths import describe
from agent.datastore.schema import NodeKind, Schema
from agent.datastore.sealing import Sealing
from agent.errors import RpcError

STATE_NS = "urn:ike-agent:datastore:1"
_Action = Callable[[], None]
_serials = itertools.count(1)


class RecordError(ValueError):
    """A stored record that cannot be applied to the tree (damaged, or not its tree)."""


@dataclass(slots=True)
class _Op:
    redo: _Action
    undo: _Action
    kind: str  # insert | remove | set
    steps: tuple[Step, ...]  # insert: of the parent; remove / set: of the node
    element: etree._Element | None = None  # insert: the node
    position: int | None = None  # insert: index in the parent; None: append
    text: str | None = None  # set
    xml: bytes = b""  # as stored (seal): insert: the subtree at the end of the edit; set: text


class Journal:
    """Redo / undo log of the mutations made by one edit, and the changes they made.

    :meth:`revert` and :meth:`replay` move the tree between the states before and after the
    edit any number of times; :meth:`undo` reverts and forgets (the edit never happened);
    :meth:`seal` fixes what a commit record of the edit holds (call it once the edit is
    complete).
    """

    def __init__(self, schema: Schema, index: KeyIndex) -> None:
        self._schema = schema
        self._index = index
        self._ops: list[_Op] = []
        self.changes: list[Change] = []
        self.errors: list[RpcError] = []
        self.undone = False
        self._created: set[etree._Element] = set()
        self.serial = next(_serials)  # tells journals apart for as long as the process runs

    def _absorbed(self, element: etree._Element) -> bool:
        """Whether ``element`` lies inside a node this edit created."""
        return any(a in self._created for a in element.iterancestors())

    def _change(self, op: ChangeOp, element: etree._Element, parent: etree._Element,
                **values: object) -> tuple[Step, ...]:
        steps, path = describe(element, parent, self._schema)
        self.changes.append(Change(op, path, steps, parent=parent, **values))  # type: ignore[arg-type]
        return steps

    def insert(self, parent: etree._Element, position: int | None,
               element: etree._Element) -> None:
        """Insert at ``position``, or append when it is None (O(1): lxml's len() is O(n))."""
        redo = partial(_insert, self._index, parent, position, element)
        redo()
        inside = parent in self._created or self._absorbed(parent)
        self._created.add(element)
        if inside:
            return
        steps = self._change(ChangeOp.CREATE, element, parent, new=element)
        self._ops.append(_Op(redo, partial(_remove, self._index, parent, element), "insert",
                             steps[:-1], element=element, position=position))

    def remove(self, element: etree._Element) -> None:
        parent = element.getparent()
        assert parent is not None
        absorbed = self._absorbed(element)
        steps = () if absorbed else self._change(ChangeOp.DELETE, element, parent, old=element)
        undo = partial(_reinsert, self._index, parent, element.getprevious(), element,
                       element.tail)
        redo = partial(_remove, self._index, parent, element)
        redo()
        if not absorbed:
            self._ops.append(_Op(redo, undo, "remove", steps))

    def set_text(self, element: etree._Element, text: str | None) -> None:
        old = element.text
        if old == text:
            return
        parent = element.getparent()
        assert parent is not None
        redo = partial(setattr, element, "text", text)
        if element in self._created or self._absorbed(element):
            redo()
            return
        steps = self._change(ChangeOp.MODIFY, element, parent, old_value=old, new_value=text)
        redo()
        self._ops.append(_Op(redo, partial(setattr, element, "text", old), "set", steps,
                             text=text))

    @property
    def empty(self) -> bool:
        return not self._ops

    def revert(self) -> None:
        """Back to the state before the edit (the log is kept: :meth:`replay` redoes it)."""
        for op in reversed(self._ops):
            op.undo()

    def replay(self) -> None:
        """Redo the edit on the tree as it was before it (e.g. after :meth:`revert`)."""
        for op in self._ops:
            op.redo()

    def undo(self) -> None:
        """Revert and forget: the edit never happened."""
        self.undone = self.undone or bool(self._ops)
        self.revert()
        self._ops.clear()
        self.changes.clear()

    def seal(self, sealer: Sealing | None = None) -> None:
        """Serialise the inserted subtrees as they are now, at the end of the edit (a later
        edit's changes inside them are its own operations), and the texts set; through
        ``sealer``, so that no secret value reaches the commit log in clear."""
        for op in self._ops:
            if op.kind == "insert" and op.element is not None:
                op.xml = (etree.tostring(op.element) if sealer is None else
                          sealer.serialize_subtree(op.element, _tags(op.steps)))
            elif op.kind == "set" and op.text is not None:
                text = op.text if sealer is None else sealer.seal_leaf(_tags(op.steps), op.text)
                op.xml = escape(text).encode()

    def encoded(self) -> bytes:
        """The operations, as a commit record holds them (after :meth:`seal`)."""
        parts: list[bytes] = []
        for op in self._ops:
            at = _steps_attr(op.steps)
            if op.kind == "insert":
                position = "" if op.position is None else f' index="{op.position}"'
                parts += [f"<insert at={at}{position}>".encode(), op.xml, b"</insert>"]
            elif op.kind == "remove":
                parts.append(f"<remove at={at}/>".encode())
            elif op.text is None:
                parts.append(f'<set at={at} none="true"/>'.encode())
            else:
                parts += [f"<set at={at}>".encode(), op.xml, b"</set>"]
        return b"".join(parts)


def _insert(index: KeyIndex, parent: etree._Element, position: int | None,
            element: etree._Element) -> None:
    if position is None:
        parent.append(element)
    else:
        parent.insert(position, element)
    index.inserted(parent, element)


def _remove(index: KeyIndex, parent: etree._Element, element: etree._Element) -> None:
    parent.remove(element)
    index.removed(parent, element)


def _reinsert(index: KeyIndex, parent: etree._Element, previous: etree._Element | None,
              element: etree._Element, tail: str | None) -> None:
    if previous is None:
        parent.insert(0, element)
    else:
        previous.addnext(element)
    element.tail = tail
    index.inserted(parent, element)


# -- commit records ----------------------------------------------------------------------


def _tags(steps: Sequence[Step]) -> tuple[str, ...]:
    return tuple(tag for tag, _ in steps)


def _steps_attr(steps: tuple[Step, ...]) -> str:
    return quoteattr(json.dumps([[tag, list(key)] for tag, key in steps],
                                ensure_ascii=False, separators=(",", ":")))


def encode(generation: int, journals: Sequence[Journal]) -> bytes:
    """The record of a commit: the sealed operations of ``journals``, in order."""
    return b"".join((f'<commit xmlns="{STATE_NS}" generation="{generation}">'.encode(),
                     *(journal.encoded() for journal in journals), b"</commit>"))


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True,
                          huge_tree=True, remove_comments=True, remove_pis=True)


def generation_in(head: bytes) -> int | None:
    """The ``generation="N"`` attribute in the first bytes of a stored element, if any."""
    marker = b'generation="'
    start = head.find(marker)
    end = head.find(b'"', start + len(marker)) if start >= 0 else -1
    if start < 0 or end < 0 or not head[start + len(marker):end].isdigit():
        return None
    return int(head[start + len(marker):end])


def record_generation(payload: bytes) -> int:
    """The generation a record commits (RecordError if it has none)."""
    generation = generation_in(payload[:200])
    if generation is None:
        raise RecordError("a record without a generation")
    return generation


def parse_record(payload: bytes) -> etree._Element:
    """The ``<commit>`` element of a record; RecordError if it is not one."""
    try:
        record = etree.fromstring(payload, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise RecordError(f"a record is not well-formed XML ({exc.msg})") from None
    if record.tag != f"{{{STATE_NS}}}commit" or not record.get("generation", "").isdigit():
        raise RecordError("a record is not a commit")
    return record


def record_operations(record: etree._Element) -> Iterator[RecordOp]:
    """The operations of a parsed record, checked for form (not against a tree)."""
    for op in record:
        kind = etree.QName(op).localname
        try:
            steps = tuple((str(tag), tuple(str(k) for k in key))
                          for tag, key in json.loads(op.get("at", "")))
        except (ValueError, TypeError):
            raise RecordError("a record names a node it cannot") from None
        node: etree._Element | None = None
        position = op.get("index")
        if kind == "insert":
            children = [c for c in op if isinstance(c.tag, str)]
            if len(children) != 1 or (position is not None and not position.isdigit()):
                raise RecordError("a record's insert is malformed")
            node = children[0]
        elif kind not in ("remove", "set"):
            raise RecordError(f"a record holds an unknown operation {kind[:20]!r}")
        yield RecordOp(kind, steps, op, node, None if position is None else int(position))


@dataclass(frozen=True, slots=True)
class RecordOp:
    kind: str  # insert | remove | set
    steps: tuple[Step, ...]  # insert: of the parent; remove / set: of the node
    element: etree._Element  # the operation's element in the record (set: holds the text)
    node: etree._Element | None  # insert: the subtree
    position: int | None  # insert: index in the parent; None: append

    @property
    def tags(self) -> tuple[str, ...]:
        return _tags(self.steps)


def apply_record(payload: bytes, root: etree._Element, schema: Schema, index: KeyIndex,
                 sealer: Sealing | None = None, origin: pathlib.Path | None = None) -> int:
    """Make the record's operations on ``root`` (a ``<data>`` tree); its generation.
    ``sealer`` opens the sealed values of a record read from ``origin``.

    RecordError if the record does not parse or does not fit the tree; the tree may then be
    partly changed (the caller throws it away). DatastoreLoadError naming ``origin`` if a
    sealed value does not open."""
    record = parse_record(payload)
    where = origin or pathlib.Path("<record>")
    for op in list(record_operations(record)):
        if op.kind == "insert":
            assert op.node is not None
            if sealer is not None:
                sealer.unseal_subtree(op.node, op.tags, where)
            _insert(index, _locate(root, op.steps, schema, index), op.position, op.node)
        elif op.kind == "remove":
            node = _locate(root, op.steps, schema, index)
            parent = node.getparent()
            assert parent is not None
            _remove(index, parent, node)
        else:
            node = _locate(root, op.steps, schema, index)
            if op.element.get("none") == "true":
                node.text = None
            else:
                text = op.element.text or ""
                node.text = text if sealer is None else sealer.open_leaf(op.tags, text, where)
    return int(record.get("generation", ""))


def _locate(root: etree._Element, steps: Sequence[Step], schema: Schema,
            index: KeyIndex) -> etree._Element:
    element = root
    children = schema.roots
    for tag, key in steps:
        node = children.get(tag)
        if node is None:
            raise RecordError("a record names a node the schema does not know")
        found: etree._Element | None
        if node.kind is NodeKind.LIST:
            found = index.entries(element, node).get(key)
        elif node.kind is NodeKind.LEAF_LIST:
            found = next((c for c in element.iterchildren(tag) if (c.text or "") == key[0]),
                         None)
        else:
            found = element.find(tag)
        if found is None:
            raise RecordError("a record names a node that is not in the tree")
        element, children = found, node.children
    return element
