"""Change sets: what an edit or a commit changed, node by node, in model terms.

Theory of operation. Every mutation the edit engine makes to a datastore tree goes through
:class:`agent.datastore.edit.Journal`, which records it as a :class:`Change`: the node's
instance-identifier, the operation and the node before / after. The changes of the edits made
to the candidate since running, in order, form the :class:`ChangeSet` a commit hands to its
subscribers (``ConfigSnapshot.changes``). The datastore knows no model: the same change set
serves every YANG module, and whoever consumes it decides what the paths mean.

Public API (stable: the negotiator, RFC 6470 config-change edits, compare-configuration and
NACM write checks read it)::

    ChangeSet
      .since: int                  running generation the changes apply to
      .changes: tuple[Change, ...] in the order they were made (a later change may undo or
                                   refine an earlier one: replay them in order)
      .entries(tags)               list path -> {key values: entry in the new tree, or None}
      .outside(tags)               True if something not inside such an entry changed
    Change
      .op: ChangeOp                CREATE | DELETE | MODIFY
      .path: str                   instance-identifier with the modules' prefixes, as in
                                   error-path: /ike:security/ike:ike/ike:policy[ike:name='x']
      .steps: tuple[Step, ...]     the same path for programs: (Clark tag, key values) per
                                   node; key values are () for a container or leaf, the list
                                   keys in key order, or (value,) for a leaf-list entry
      .old / .new                  the node (with its subtree) before / after: the element a
                                   DELETE removed, the one a CREATE inserted; None when the
                                   node did not exist / no longer exists. Read-only.
      .old_value / .new_value      a MODIFY's leaf text before / after

What each operation means: CREATE, a node that did not exist now does (``new``, subtree
included: nodes created inside it get no change of their own); DELETE, a node that existed no
longer does (``old``); MODIFY, a leaf kept its place and its value changed. A replaced node or
a moved ordered-by-user entry is a DELETE followed by a CREATE of the same path.

Lifetime: the elements are the datastore's own (no copies). They may be read while the change
set is handed over (a subscriber's ``prepare``/``commit``, the reply to an edit); they are
not to be mutated, and a consumer that keeps a node beyond that call copies it
(``copy.deepcopy``), because later commits change running in place.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from lxml import etree

Key = tuple[str, ...]
Step = tuple[str, Key]  # (Clark tag, key values)


class ChangeOp(enum.StrEnum):
    CREATE = "create"
    DELETE = "delete"
    MODIFY = "modify"


@dataclass(frozen=True, slots=True)
class Change:
    """One node created, deleted or modified; see the module docstring."""

    op: ChangeOp
    path: str
    steps: tuple[Step, ...]
    old: etree._Element | None = None
    new: etree._Element | None = None
    old_value: str | None = None
    new_value: str | None = None
    # The node's parent in the tree the change was made to (where the entry above it is
    # found); not part of the public API.
    parent: etree._Element | None = None


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """The changes made since running generation ``since``, in order."""

    since: int
    changes: tuple[Change, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.changes)

    def entries(self, tags: Sequence[str]) -> Mapping[Key, etree._Element | None] | None:
        """The entries of the list at ``tags`` (Clark tags from the top: containers and list
        entries, ending with the list) that a change touched: key values -> the entry in the
        new tree, or None if it no longer exists. None when a node above the list (one of
        ``tags[:-1]``) was created or deleted: then any entry may have changed, and the
        caller looks at all of them. Lists whose path goes through another list are matched
        whatever that list's keys are."""
        depth = len(tags)
        found: dict[Key, etree._Element | None] = {}
        for change in self.changes:
            steps = change.steps
            if tuple(tag for tag, _ in steps[:depth]) != tuple(tags[:len(steps)]):
                continue  # elsewhere
            if len(steps) < depth:
                if change.op is ChangeOp.MODIFY:
                    continue  # a leaf beside the list
                return None
            key = steps[depth - 1][1]
            if len(steps) == depth and change.op is ChangeOp.DELETE:
                found[key] = None
                continue
            node = change.new if len(steps) == depth else change.parent
            for _ in range(len(steps) - 1 - depth if len(steps) > depth else 0):
                node = node.getparent() if node is not None else None
            found[key] = node
        return found

    def outside(self, tags: Sequence[str]) -> bool:
        """True if a change is not inside an entry of the list at ``tags``."""
        depth = len(tags)
        return any(
            len(change.steps) < depth
            or tuple(tag for tag, _ in change.steps[:depth]) != tuple(tags)
            for change in self.changes
        )


def merged(since: int, parts: Sequence[Sequence[Change]]) -> ChangeSet:
    """One change set from the changes of several edits, in order."""
    return ChangeSet(since, tuple(change for part in parts for change in part))


# Access control's look at a write before it is kept: raises NetconfError to refuse it (the
# datastore then leaves everything as it was).
Authorize = Callable[[ChangeSet], None]

