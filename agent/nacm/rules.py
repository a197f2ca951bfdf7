"""The NACM rules of one user, compiled against the schema (RFC 8341 sections 3.4.4, 3.4.5).

Theory of operation. The rule-lists whose ``group`` names one of the user's groups are
flattened, in order, into one list per access operation (read, create, update, delete, exec);
the first rule that matches decides (section 3.4.5 steps 5-7), otherwise the node's
``nacm:default-deny-all`` / ``default-deny-write`` marks (on the node or an ancestor), then
read-default / write-default. A rule without key predicates in its ``path`` judges every
instance of a schema node alike, so each schema node gets a :class:`Verdict` once per request
(``PERMIT``, ``DENY``, or ``DYNAMIC`` where a keyed path such as ``policy[name='x']`` must be
checked on each instance), and ``uniform`` tells whether a node's whole subtree shares its
verdict: readers and writers skip such subtrees instead of walking them.

Paths (``node-instance-identifier``) name modules by the XML prefixes in scope of the ``path``
leaf (the datastore keeps them on the leaf); failing that, by a module's own prefix or name.
A path naming no known module matches nothing.
"""

from __future__ import annotations

import copy
import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lxml import etree

from agent.datastore.paths import split_steps
from agent.datastore.schema import NodeKind, Schema, SchemaNode
from agent.nacm.config import ALL, Access, NacmConfig, Rule, RuleType

BASE_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
BASE_MODULE = "ietf-netconf"  # the module of the base operations (RFC 6241)
# Section 3.4.4: ietf-netconf marks these default-deny-all; denied unless a rule permits.
DENIED_BY_DEFAULT = frozenset({(BASE_NS, "kill-session"), (BASE_NS, "delete-config")})
_PREDICATE = re.compile(r"""\[\s*([^=\]\s]+)\s*=\s*(?:'([^']*)'|"([^"]*)")\s*\]""")


class Verdict(enum.Enum):
    PERMIT = "permit"
    DENY = "deny"
    DYNAMIC = "dynamic"  # depends on the instance (a keyed path rule applies)


@dataclass(frozen=True, slots=True)
class Step:
    tag: str  # Clark name
    predicates: tuple[tuple[str, str], ...] = ()  # (key Clark name, or ".", value)


@dataclass(frozen=True, slots=True)
class CompiledPath:
    steps: tuple[Step, ...]  # empty: "/" (all data)
    valid: bool = True


def compile_path(text: str, namespaces: Mapping[str, str]) -> CompiledPath:
    """``/ike:security/ike:ike/ike:policy[ike:name='x']`` -> steps; ``namespaces`` maps
    prefixes and module names to namespaces."""
    text = text.strip()
    if text == "/":
        return CompiledPath(())
    steps: list[Step] = []
    namespace = ""
    for head, predicates in split_steps(text):
        if ":" in head:
            prefix, head = head.split(":", 1)
            found = namespaces.get(prefix)
            if found is None:
                return CompiledPath((), valid=False)
            namespace = found
        if not namespace or not head:
            return CompiledPath((), valid=False)
        keys: list[tuple[str, str]] = []
        for match in _PREDICATE.finditer(predicates):
            name, value = match.group(1), match.group(2) if match.group(2) is not None \
                else match.group(3)
            if name == ".":
                keys.append((".", value))
                continue
            key_ns = namespace
            if ":" in name:
                key_prefix, name = name.split(":", 1)
                key_ns = namespaces.get(key_prefix, "")
            keys.append((f"{{{key_ns}}}{name}", value))
        steps.append(Step(f"{{{namespace}}}{head}", tuple(keys)))
    if not steps:
        return CompiledPath((), valid=False)
    return CompiledPath(tuple(steps))


# A node instance as access control sees it: its schema node and its key values (list keys
# in key order, a leaf-list entry's value, () otherwise); a chain runs from a top-level node.
Key = tuple[str, ...]
Chain = Sequence[tuple[SchemaNode, Key]]


def key_of(element: etree._Element, node: SchemaNode) -> Key:
    if node.kind is NodeKind.LEAF_LIST:
        return ((element.text or "").strip(),)
    return tuple((element.findtext(f"{{{node.namespace}}}{k}") or "").strip()
                 for k in node.keys)


def _instance_matches(path: CompiledPath, chain: Chain) -> bool:
    if len(path.steps) > len(chain):
        return False
    for step, (node, key) in zip(path.steps, chain, strict=False):
        if step.tag != node.tag:
            return False
        for name, value in step.predicates:
            if name == ".":
                actual = key[0] if key else None
            else:
                local = name.rpartition("}")[2]
                position = node.keys.index(local) if local in node.keys else -1
                actual = key[position] if 0 <= position < len(key) else None
            if actual != value:
                return False
    return True


def schema_chain(node: SchemaNode) -> list[SchemaNode]:
    chain = []
    current: SchemaNode | None = node
    while current is not None:
        chain.append(current)
        current = current.parent
    chain.reverse()
    return chain


class UserRules:
    """The rules in force for one set of groups, with per-schema-node verdicts memoized."""

    def __init__(self, config: NacmConfig, groups: frozenset[str], schema: Schema) -> None:
        self.enabled = config.enabled
        self.config = config
        self.schema = schema
        rules = [
            rule
            for rule_list in config.rule_lists
            if ALL in rule_list.groups or rule_list.groups & groups
            for rule in rule_list.rules
        ]
        namespaces = {m.prefix: m.namespace for m in schema.modules()}
        namespaces.update({m.name: m.namespace for m in schema.modules()})
        self._rpc_rules = [r for r in rules if Access.EXEC in r.operations
                           and r.type in (RuleType.ANY, RuleType.RPC)]
        self._notification_rules = [r for r in rules if Access.READ in r.operations
                                    and r.type in (RuleType.ANY, RuleType.NOTIFICATION)]
        self._data_rules: dict[Access, list[tuple[Rule, CompiledPath | None]]] = {}
        for access in (Access.READ, Access.CREATE, Access.UPDATE, Access.DELETE):
            self._data_rules[access] = [
                (rule, compile_path(rule.target, {**namespaces, **dict(rule.prefixes)})
                 if rule.type is RuleType.PATH else None)
                for rule in rules
                if access in rule.operations and rule.type in (RuleType.ANY, RuleType.PATH)
            ]
        self._verdicts: dict[tuple[Access, int], Verdict] = {}
        self._uniform: dict[tuple[Access, int], bool] = {}
        self._unkeyed: UserRules | None = None

    def keyed(self, access: Access) -> list[CompiledPath]:
        """The paths with key predicates among the rules for ``access``."""
        return [path for _, path in self._data_rules[access]
                if path is not None and path.valid and any(s.predicates for s in path.steps)]

    def unkeyed(self) -> UserRules:
        """These rules without the keyed path rules: how every instance that no keyed path
        names is judged (a rule whose path does not match a node is skipped for it)."""
        if self._unkeyed is None:
            other = copy.copy(self)
            other._data_rules = {
                access: [(rule, path) for rule, path in rules
                         if path is None or not any(s.predicates for s in path.steps)]
                for access, rules in self._data_rules.items()}
            other._verdicts, other._uniform, other._unkeyed = {}, {}, None
            self._unkeyed = other
        return self._unkeyed

    # -- operations (section 3.4.4) and notifications (section 3.4.6) -------------------

    def may_exec(self, namespace: str, name: str) -> bool:
        if not self.enabled or (namespace, name) == (BASE_NS, "close-session"):
            return True
        decided = _first_match(self._rpc_rules, self.module_of(namespace), name)
        if decided is not None:
            return decided
        if (namespace, name) in DENIED_BY_DEFAULT or (namespace, name) in \
                self.schema.deny_all_rpcs:
            return False
        return self.config.exec_default

    def may_receive(self, namespace: str, name: str) -> bool:
        """Section 3.4.6: whether an event notification may be sent to this user."""
        if not self.enabled:
            return True
        decided = _first_match(self._notification_rules, self.module_of(namespace), name)
        return self.config.read_default if decided is None else decided

    def module_of(self, namespace: str) -> str:
        if namespace == BASE_NS:
            return BASE_MODULE
        return self.schema.module_names.get(namespace, "")

    # -- data nodes (section 3.4.5) -----------------------------------------------------

    def verdict(self, access: Access, node: SchemaNode) -> Verdict:
        """The verdict on every instance of ``node``, or DYNAMIC."""
        key = (access, id(node))
        found = self._verdicts.get(key)
        if found is None:
            found = self._verdicts[key] = self._static_verdict(access, node)
        return found

    def _static_verdict(self, access: Access, node: SchemaNode) -> Verdict:
        if not self.enabled:
            return Verdict.PERMIT
        chain = schema_chain(node)
        for rule, path in self._data_rules[access]:
            if rule.module not in (ALL, node.module):
                continue
            if path is None or (path.valid and not path.steps):
                return Verdict.PERMIT if rule.permit else Verdict.DENY
            if not path.valid or len(path.steps) > len(chain):
                continue
            if any(step.tag != n.tag for step, n in zip(path.steps, chain, strict=False)):
                continue
            if any(step.predicates for step in path.steps):
                return Verdict.DYNAMIC
            return Verdict.PERMIT if rule.permit else Verdict.DENY
        return Verdict.PERMIT if self._default(access, chain) else Verdict.DENY

    def _default(self, access: Access, chain: Sequence[SchemaNode]) -> bool:
        if any(n.deny_all for n in chain):
            return False
        if access is Access.READ:
            return self.config.read_default
        if any(n.deny_write for n in chain):
            return False
        return self.config.write_default

    def uniform(self, access: Access, node: SchemaNode) -> bool:
        """Whether every descendant of ``node`` has ``node``'s (non-DYNAMIC) verdict."""
        key = (access, id(node))
        found = self._uniform.get(key)
        if found is None:
            mine = self.verdict(access, node)
            found = mine is not Verdict.DYNAMIC and all(
                self.verdict(access, child) is mine and self.uniform(access, child)
                for child in node.children.values()
            )
            self._uniform[key] = found
        return found

    def uniform_everywhere(self, access: Access) -> Verdict | None:
        """The verdict every data node gets for ``access``, if it is one for all."""
        verdicts = {self.verdict(access, n) for n in self.schema.data_roots.values()}
        if len(verdicts) == 1 and all(self.uniform(access, n)
                                      for n in self.schema.data_roots.values()):
            return verdicts.pop()
        return None

    def decide(self, access: Access, chain: Chain) -> bool:
        """Section 3.4.5 for one instance: ``chain`` runs from a top-level node to it."""
        node = chain[-1][0]
        verdict = self.verdict(access, node)
        if verdict is not Verdict.DYNAMIC:
            return verdict is Verdict.PERMIT
        for rule, path in self._data_rules[access]:
            if rule.module not in (ALL, node.module):
                continue
            if path is None or (path.valid and not path.steps):
                return rule.permit
            if path.valid and _instance_matches(path, chain):
                return rule.permit
        return self._default(access, [n for n, _ in chain])


def _first_match(rules: Sequence[Rule], module: str, name: str) -> bool | None:
    """The action of the first rule naming ``name`` of ``module`` (or any), if one does."""
    for rule in rules:
        if rule.module in (ALL, module) and (rule.type is RuleType.ANY
                                             or rule.target in (ALL, name)):
            return rule.permit
    return None


def child_node(parent: SchemaNode | None, element: etree._Element,
               schema: Schema) -> SchemaNode | None:
    """The schema node of ``element`` below ``parent`` (None: the data root's children)."""
    if not isinstance(element.tag, str):
        return None
    children = schema.data_roots if parent is None else parent.children
    return children.get(element.tag)


def steps_chain(steps: Sequence[tuple[str, Key]],
                schema: Schema) -> list[tuple[SchemaNode, Key]] | None:
    """The chain of a change's steps ((Clark tag, key values) from the top); None: not all
    of them are schema nodes."""
    chain: list[tuple[SchemaNode, Key]] = []
    node: SchemaNode | None = None
    for tag, key in steps:
        node = (schema.data_roots if node is None else node.children).get(tag)
        if node is None:
            return None
        chain.append((node, key))
    return chain
