"""Running as one set of rules lets it be read, kept up to date from each commit's change set.

Theory of operation. A get-config of running by a user from whom something is hidden is
served from a pruned copy of running (a *view*), made once per set of rules. A commit does not
throw the views away: it records which nodes it touched (the paths of its change set, the
topmost of each subtree; :mod:`agent.datastore.changes`), and the next read of a view brings it
to the current generation by *resyncing* each touched node: the node's old copy leaves the
view, and, if the node still exists and the user may read it, a pruned copy of it from running
takes its place, after the nearest preceding sibling the view holds (so ordered-by-user lists
keep running's order). Only the paths are kept, never the change set's elements (they belong to
the datastore and change with the next commit): a resync reads running as it is at the read,
so applying every path touched since the view's generation, in any order, gives the view of
the current running.

A view is made anew (a copy of running, then :func:`agent.nacm.read.prune`) when there is none,
when a generation in between is not known (a change set unknown, the log overrun), when a
commit touched a top-level node or more nodes than resyncing is worth, or when a touched node's
parent is readable but absent from the view (nothing to place it under). A change of ``/nacm``
changes the rules themselves: :class:`agent.nacm.control.AccessControl` drops every view then.

A touched node is found by its path, a list entry by its key: each tree (running, each view)
keeps its lists' entries by key, built once in C per list and then trusted only after a check
(still that parent's child, with that key), a miss being searched for: a catch-up after a
one-leaf commit then costs a few dictionary look-ups, not a search of 10,000 entries.

Views are changed in place, as running is by a commit: a reply serializes either one without
yielding to the loop, so each shows one generation.
"""

from __future__ import annotations

import collections
import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

from lxml import etree

from agent.datastore.changes import ChangeSet, Step
from agent.datastore.schema import NodeKind, Schema, SchemaNode
from agent.datastore.subscriber import ConfigSnapshot
from agent.nacm.config import Access
from agent.nacm.read import ReadPlan, detach, prune, prune_instance
from agent.nacm.rules import Chain, Key, UserRules, child_node, key_of, steps_chain

KEPT = 8  # views, for as many sets of rules
GENERATIONS_LOGGED = 64  # commits whose touched paths are kept for the views to catch up
MAX_RESYNCS = 64  # touched nodes a view catches up with; beyond, it is made anew
MAX_RESYNC_NODES = 2000  # nodes of one touched subtree copied into a view; beyond, anew
# Preceding siblings looked at to place a node (touched ones are not placed yet); beyond, anew.
MAX_SIBLINGS = MAX_RESYNCS + 16

Path = tuple[Step, ...]


def touched_paths(changes: ChangeSet) -> frozenset[Path]:
    """The topmost paths of ``changes``: nothing below a touched node needs its own resync."""
    paths = {change.steps for change in changes.changes}
    return frozenset(path for path in paths
                     if not any(path[:depth] in paths for depth in range(1, len(path))))


class _Entries:
    """The entries of each keyed list instance of one tree, by key, as last seen: built on the
    first look at a list, then trusted only when checked (the entry is still that parent's
    child, with that key); a key not found so is searched for in the tree. Stale at worst,
    never wrong, so a commit of running need not tell it anything."""

    def __init__(self) -> None:
        self._lists: dict[tuple[etree._Element, str], dict[Key, etree._Element]] = {}

    def find(self, parent: etree._Element, node: SchemaNode, key: Key, search: etree.XPath,
             columns: Sequence[etree.XPath]) -> etree._Element | None:
        """The entry of list ``node`` below ``parent`` with ``key`` (``search``: an XPath
        finding it from the key values $v0...; ``columns``: one XPath per key giving every
        entry's value of it, in document order)."""
        entries = self._lists.get((parent, node.tag))
        if entries is None:
            entries = self._lists[(parent, node.tag)] = _by_key(parent, node, columns)
        entry = entries.get(key)
        if entry is not None and entry.getparent() is parent and key_of(entry, node) == key:
            return entry
        found = search(parent, **{f"v{i}": value for i, value in enumerate(key)})
        assert isinstance(found, list)
        entry = found[0] if found and isinstance(found[0], etree._Element) else None
        if entry is None:
            entries.pop(key, None)
        else:
            entries[key] = entry
        return entry

    def prune(self, root: etree._Element) -> None:
        """Forget the lists whose parent is no longer in the tree of ``root``."""
        for slot in [s for s in self._lists if s[0].getroottree().getroot() is not root]:
            del self._lists[slot]


def _by_key(parent: etree._Element, node: SchemaNode,
            columns: Sequence[etree.XPath]) -> dict[Key, etree._Element]:
    """Every ``node`` entry below ``parent`` by key: the key values read in C, a column per
    key, when each entry has one text per key (else entry by entry)."""
    entries = list(parent.iterchildren(node.tag))
    values = [column(parent) for column in columns]
    if all(isinstance(v, list) and len(v) == len(entries) for v in values):
        keys: list[Key] = list(zip(*cast(list[list[str]], values), strict=True))
        return dict(zip(keys, entries, strict=True))
    return {key_of(entry, node): entry for entry in entries}


@dataclass(slots=True)
class _View:
    generation: int
    tree: etree._Element
    entries: _Entries


class RunningViews:
    """The views of running for the sets of rules read lately (at most :data:`KEPT`)."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self._views: dict[int, _View] = {}  # id(rules) -> view
        # generation -> the paths its commit touched (None: not known)
        self._log: collections.OrderedDict[int, frozenset[Path] | None] = \
            collections.OrderedDict()
        self._finders: dict[tuple[str, ...], etree.XPath] = {}
        self._running_entries = _Entries()
        self._key_columns: dict[str, list[etree.XPath]] = {}
        self.made = 0  # views made from a copy of running (for tests and benches)
        self.caught_up = 0  # views brought to a later generation by resyncs

    def clear(self) -> None:
        self._views.clear()

    def committed(self, generation: int, changes: ChangeSet | None) -> None:
        """Running is now ``generation``, changed by ``changes`` (None: not known)."""
        self._log[generation] = None if changes is None else touched_paths(changes)
        while len(self._log) > GENERATIONS_LOGGED:
            self._log.popitem(last=False)

    def view(self, snapshot: ConfigSnapshot, rules: UserRules, plan: ReadPlan) -> etree._Element:
        """Running as ``rules`` let it be read, at ``snapshot``'s generation (the rules are
        those of this generation)."""
        found = self._views.get(id(rules))
        if found is not None and found.generation != snapshot.generation:
            paths = self._since(found.generation, snapshot.generation)
            self._running_entries.prune(snapshot.data)
            found.entries.prune(found.tree)
            if paths is not None and self._catch_up(found, snapshot.data, paths, rules):
                found.generation = snapshot.generation
                self.caught_up += 1
            else:
                found = None
        if found is None:
            tree = copy.deepcopy(snapshot.data)
            prune(tree, rules, plan)
            self.made += 1
            self._views.pop(id(rules), None)
            if len(self._views) >= KEPT:
                self._views.pop(next(iter(self._views)))
            found = self._views[id(rules)] = _View(snapshot.generation, tree, _Entries())
        return found.tree

    def _since(self, generation: int, now: int) -> set[Path] | None:
        """Every path touched after ``generation`` up to ``now``; None if one is not known."""
        paths: set[Path] = set()
        for number in range(generation + 1, now + 1):
            touched = self._log.get(number)
            if touched is None:
                return None
            paths |= touched
            if len(paths) > MAX_RESYNCS:
                return None
        return paths

    def _catch_up(self, found: _View, running: etree._Element,
                  paths: Iterable[Path], rules: UserRules) -> bool:
        """Resync ``view`` at each path; False when it has to be made anew (then it may be
        half done: it is dropped). The old copies all leave first, so that a node is placed
        after a sibling that is where running has it, not one about to move."""
        # A path below another (from different commits) is covered by the one above it.
        every = set(paths)
        topmost = [path for path in every
                   if not any(path[:depth] in every for depth in range(1, len(path)))]
        view, in_view = found.tree, found.entries
        placed: list[tuple[etree._Element, Chain]] = []
        for path in topmost:
            chain = steps_chain(path, self.schema)
            if chain is None or len(chain) < 2:
                return False  # not a node of the schema, or a whole top-level subtree
            view_parent = self._walk(view, chain[:-1], in_view)
            if view_parent is None:
                # Hidden with an ancestor (nothing of it is shown: done), or under a parent
                # the view lacks though the user may read it (made anew).
                if all(rules.decide(Access.READ, chain[:depth])
                       for depth in range(1, len(chain))):
                    return False
                continue
            old = self._child(view_parent, chain[-1][0], chain[-1][1], chain, in_view)
            if old is not None:
                detach(old)
            placed.append((view_parent, chain))
        return all(self._resync(view_parent, running, at, rules, in_view)
                   for view_parent, at in placed)

    def _resync(self, view_parent: etree._Element, running: etree._Element, chain: Chain,
                rules: UserRules, in_view: _Entries) -> bool:
        """Put into ``view_parent`` the readable part of running's node at ``chain``, if
        there is one."""
        running_parent = self._walk(running, chain[:-1], self._running_entries)
        node, key = chain[-1]
        current = None if running_parent is None else self._child(
            running_parent, node, key, chain, self._running_entries)
        if current is None or not rules.decide(Access.READ, chain):
            return True
        if sum(1 for _ in current.iter()) > MAX_RESYNC_NODES:
            return False
        shown = copy.deepcopy(current)
        prune_instance(shown, chain, rules)
        return self._place(shown, current, view_parent, chain, in_view)

    def _place(self, shown: etree._Element, current: etree._Element,
               view_parent: etree._Element, chain: Chain, in_view: _Entries) -> bool:
        """Insert ``shown`` into ``view_parent`` where running has ``current``: after the
        view's copy of the nearest preceding sibling it holds."""
        parent_node = chain[-2][0]
        previous = current.getprevious()
        for _ in range(MAX_SIBLINGS):
            if previous is None:
                view_parent.insert(0, shown)
                return True
            node = child_node(parent_node, previous, self.schema)
            if node is not None:
                counterpart = self._child(view_parent, node, key_of(previous, node),
                                          [*chain[:-1], (node, ())], in_view)
                if counterpart is not None:
                    counterpart.addnext(shown)
                    return True
            previous = previous.getprevious()
        return False

    def _walk(self, tree: etree._Element, chain: Chain,
              entries: _Entries) -> etree._Element | None:
        current: etree._Element | None = tree
        for depth in range(len(chain)):
            if current is None:
                return None
            node, key = chain[depth]
            current = self._child(current, node, key, chain[:depth + 1], entries)
        return current

    def _child(self, parent: etree._Element, node: SchemaNode, key: Key, chain: Chain,
               entries: _Entries) -> etree._Element | None:
        """``parent``'s child instance of ``node`` with ``key`` (a list entry by key through
        ``entries``, a leaf-list entry searched in C)."""
        if node.kind is NodeKind.LIST and node.keys:
            return entries.find(parent, node, key, self._finder(node, chain),
                                self._columns(node))
        if node.kind is NodeKind.LEAF_LIST:
            found = self._finder(node, chain)(parent, v0=key[0] if key else "")
        else:
            return parent.find(node.tag)
        assert isinstance(found, list)
        element = found[0] if found else None
        return element if isinstance(element, etree._Element) else None

    def _columns(self, node: SchemaNode) -> list[etree.XPath]:
        """Per key of list ``node``, an XPath to every entry's value of it."""
        found = self._key_columns.get(node.tag)
        if found is None:
            found = self._key_columns[node.tag] = [
                etree.XPath(f"n:{node.name}/n:{key}/text()", namespaces={"n": node.namespace},
                            smart_strings=False)
                for key in node.keys]
        return found

    def _finder(self, node: SchemaNode, chain: Chain) -> etree.XPath:
        tags = (*(n.tag for n, _ in chain[:-1]), node.tag)
        finder = self._finders.get(tags)
        if finder is None:
            if node.kind is NodeKind.LEAF_LIST:
                predicate = "[.=$v0]"
            else:
                predicate = "[" + " and ".join(f"n:{k}=$v{i}"
                                               for i, k in enumerate(node.keys)) + "]"
            finder = self._finders[tags] = etree.XPath(
                f"n:{node.name}{predicate}", namespaces={"n": node.namespace})
        return finder
