"""Finding policy entries by key without a Python object per policy.

Holding an lxml proxy for each of 10,000 policies costs milliseconds to build and, worse,
makes freeing the tree three to four times slower; copying such an index for every new
candidate was the largest cost of a one-policy commit. A :class:`PolicyLocator` instead keeps
``base``: each policy's position among the policies of the tree it was made for (plain ints,
shared read-only between the running tree and the candidate copied from it) plus the few
changes made since: entries changed in place, entries appended (new list entries always go
after the last policy: the list is ordered-by system, RFC 7950 section 7.7.7) and base
positions deleted. Looking up an unchanged entry walks the children in C (``ike[i]``) and
checks the key it finds, so a wrong position can never go unnoticed.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass

from lxml import etree

from agent.datastore.serialize import IKE_TAG, POLICY_TAG, SECURITY_TAG
from agent.datastore.subscriber import IKE_NS

log = logging.getLogger(__name__)

Key = tuple[str, ...]
_State = tuple[dict[str, etree._Element | None], dict[str, etree._Element], list[int]]
NAME_TAG = f"{{{IKE_NS}}}name"
IKE_PATH = f"{SECURITY_TAG}/{IKE_TAG}"
_policies_named = etree.XPath("k:policy[k:name=$n]", namespaces={"k": IKE_NS})


def policy_positions(ike: etree._Element | None) -> dict[str, int]:
    """Name -> position among the policies, in document order (creates proxies: O(n))."""
    if ike is None:
        return {}
    return {(entry.findtext(NAME_TAG) or ""): i
            for i, entry in enumerate(ike.iterchildren(POLICY_TAG))}


def policies_named(ike: etree._Element, name: str) -> list[etree._Element]:
    """The policy entries of ``ike`` whose key is ``name`` (XPath in C: no Python loop)."""
    found = _policies_named(ike, n=name)
    assert isinstance(found, list)
    return found  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class PolicyChanges:
    """Policies changed since the locator's base: in place (None: deleted) and appended."""

    in_place: dict[str, etree._Element | None]
    appended: dict[str, etree._Element]


class PolicyLocator(MutableMapping[Key, etree._Element]):
    """Policy key -> entry of one ``<ike>`` element; see the module docstring."""

    def __init__(self, ike: etree._Element | None, base: dict[str, int]) -> None:
        self.ike = ike
        self.base = base  # shared, never mutated
        self._in_place: dict[str, etree._Element | None] = {}
        self._appended: dict[str, etree._Element] = {}  # document order
        self._deleted: list[int] = []  # sorted base positions
        self.stale = False  # a lookup found the tree out of step: positions are unreliable

    @classmethod
    def build(cls, data: etree._Element) -> PolicyLocator:
        ike = data.find(IKE_PATH)
        return cls(ike, policy_positions(ike))

    # -- lookups ---------------------------------------------------------------------

    def __getitem__(self, key: Key) -> etree._Element:
        name = key[0]
        found = self._appended.get(name)
        if found is not None:
            return found
        if name in self._in_place:
            entry = self._in_place[name]
            if entry is None:
                raise KeyError(key)
            return entry
        position = self.base.get(name)
        if position is None or self.ike is None:
            raise KeyError(key)
        return self._at(name, position)

    def _at(self, name: str, position: int) -> etree._Element:
        assert self.ike is not None
        first = self.ike.find(POLICY_TAG)
        if first is not None:
            index = self.ike.index(first) + position - bisect.bisect_left(self._deleted, position)
            try:
                entry: etree._Element | None = self.ike[index]
            except IndexError:
                entry = None
            if entry is not None and entry.tag == POLICY_TAG and entry.findtext(NAME_TAG) == name:
                return entry
        # Out of step (a bug): answer correctly the slow way and stop trusting positions.
        if not self.stale:
            log.warning("policy locator out of step at %r; falling back to a search", name)
        self.stale = True
        found = policies_named(self.ike, name)
        if not found:
            raise KeyError((name,))
        return found[0]

    def _is_deleted(self, name: str) -> bool:
        return name in self._in_place and self._in_place[name] is None

    def save_state(self) -> _State:
        """The change bookkeeping (small), to restore when an edit is undone."""
        return dict(self._in_place), dict(self._appended), list(self._deleted)

    def restore_state(self, state: _State) -> None:
        self._in_place, self._appended, self._deleted = (
            dict(state[0]), dict(state[1]), list(state[2]))

    def __iter__(self) -> Iterator[Key]:
        for name in self.base:
            if not self._is_deleted(name) and name not in self._appended:
                yield (name,)
        for name in self._appended:
            yield (name,)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    # -- changes, as the edit engine makes them -------------------------------------------

    def __setitem__(self, key: Key, entry: etree._Element) -> None:
        """``entry`` was created: appended after the last policy, or replacing ``key``."""
        name = key[0]
        if name in self._appended:
            self._appended[name] = entry  # replaced in place
        elif name in self.base and not self._is_deleted(name):
            self._in_place[name] = entry  # an original replaced in place
        else:
            self._appended[name] = entry  # new, or deleted and created again

    def __delitem__(self, key: Key) -> None:
        name = key[0]
        if name in self._appended:
            del self._appended[name]
        elif name in self.base and not self._is_deleted(name):
            self._in_place[name] = None
            bisect.insort(self._deleted, self.base[name])
        else:
            raise KeyError(key)

    # -- after a commit --------------------------------------------------------------

    def changes(self, touched: set[str]) -> PolicyChanges:
        """What changed since the base, given the names of every touched policy."""
        in_place: dict[str, etree._Element | None] = {}
        for name in touched:
            if name in self._appended:
                continue
            if name in self.base:
                in_place[name] = self.get((name,))
        return PolicyChanges(in_place, dict(self._appended))

    def committed_positions(self) -> dict[str, int]:
        """The base of the tree this locator describes, as it is now."""
        if not self._deleted:
            positions = dict(self.base)
        else:
            positions = {}
            for name in self.base:
                if not self._is_deleted(name):
                    positions[name] = len(positions)
        for name in self._appended:
            positions.pop(name, None)
            positions[name] = len(positions)
        return positions
