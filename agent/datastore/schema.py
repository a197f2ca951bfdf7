"""The YANG schema of the agent: a libyang context for validation and a small data-node index.

libyang (``oopt-gnpy-libyang``) judges complete data trees but its Python binding does not
expose the schema tree, so a second, read-only index of the data nodes is built with pyang from
the same files. The edit layer uses it for what RFC 6241 section 7.2 needs: which element names
exist, list keys, ``ordered-by user``, schema order of children, and choice/case membership
(RFC 7950 section 7.9: creating a node of one case removes the nodes of the other cases),
and the RFC 8341 ``nacm:default-deny-write`` / ``nacm:default-deny-all`` marks access control
reads. Nothing here knows a module: every module of the directory that defines configuration
data is loaded and indexed. ``roots`` holds those datastore modules' top-level nodes (what
edit-config may name); ``data_roots`` every shipped module's, state-only ones included
(``/netconf-state``), so that access control can judge every node of a ``<get>`` reply. For
validation (:mod:`agent.datastore.chunks`) the index also records what may tie list entries
together: ``unique``, element bounds, and every name that a ``must``, ``when`` or leafref
``path`` expression of any module mentions.
"""

from __future__ import annotations

import enum
import hashlib
import importlib.resources
import pathlib
import re
from dataclasses import dataclass, field
from typing import Any

import oopt_gnpy_libyang as ly
from pyang import context as pyang_context  # type: ignore[import-untyped]
from pyang import repository as pyang_repository  # type: ignore[import-untyped]

from agent.datastore.canonical import Canonical, for_type
from agent.datastore.libyang_process import LibyangProcess

NACM_MODULE = "ietf-netconf-acm"  # RFC 8341: its extensions mark what access control guards
_DENY_WRITE = (NACM_MODULE, "default-deny-write")
_DENY_ALL = (NACM_MODULE, "default-deny-all")
_XPATH_STRING = re.compile(r"'[^']*'|\"[^\"]*\"")
_XPATH_NAME = re.compile(r"(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)(\s*(?:\(|::))?")


@dataclass(frozen=True, slots=True)
class ModuleInfo:
    """One YANG module shipped with the agent (for get-schema and the YANG library)."""

    name: str
    revision: str | None
    namespace: str
    prefix: str
    path: pathlib.Path


class NodeKind(enum.Enum):
    CONTAINER = "container"
    LIST = "list"
    LEAF = "leaf"
    LEAF_LIST = "leaf-list"


@dataclass(eq=False, slots=True)
class SchemaNode:
    """A data node of the schema (choices and cases are folded into ``cases``)."""

    name: str
    namespace: str
    kind: NodeKind
    config: bool
    keys: tuple[str, ...] = ()
    user_ordered: bool = False
    presence: bool = False
    default: str | None = None  # a leaf's schema default (RFC 7950 section 7.6.1), as text
    unique: bool = False  # a list with ``unique`` statements
    bounded: bool = False  # a list or leaf-list with min-elements > 0 or max-elements
    # (choice id, case name) from the nearest data ancestor down to this node.
    cases: tuple[tuple[int, str], ...] = ()
    children: dict[str, SchemaNode] = field(default_factory=dict)
    # Clark name of a child -> its position in the schema (keys first for lists).
    order: dict[str, int] = field(default_factory=dict)
    parent: SchemaNode | None = field(default=None, repr=False)  # None: top-level
    # Leaves and leaf-lists: the canonical form of a value, from the YANG type (None: as
    # given; agent.datastore.canonical).
    canonical: Canonical | None = field(default=None, repr=False)
    module: str = ""  # the YANG module defining the node (RFC 8341 module-name rules)
    # RFC 8341 section 3.2: nacm:default-deny-write / default-deny-all on this node itself.
    deny_write: bool = False
    deny_all: bool = False
    # A leaf whose values name modules by XML prefix (instance-identifier, yang:xpath1.0).
    prefixed_value: bool = False
    # Derived once (an edit asks each node of every entry for them).
    tag: str = field(init=False, repr=False)  # the Clark name, {namespace}name
    is_term: bool = field(init=False, repr=False)  # a leaf or a leaf-list
    key_tags: frozenset[str] = field(init=False, repr=False)  # a list's keys, Clark names

    def __post_init__(self) -> None:
        self.tag = f"{{{self.namespace}}}{self.name}"
        self.is_term = self.kind in (NodeKind.LEAF, NodeKind.LEAF_LIST)
        self.key_tags = frozenset(f"{{{self.namespace}}}{key}" for key in self.keys)


def yang_directory() -> pathlib.Path:
    """The directory of the YANG files shipped as package data (``ike_yang``)."""
    return pathlib.Path(str(importlib.resources.files("ike_yang")))


class Schema:
    """The libyang context plus the data-node index of every implemented module."""

    def __init__(
        self,
        context: ly.Context,
        modules: list[ModuleInfo],
        roots: dict[str, SchemaNode],
        directory: pathlib.Path | None = None,
        data_roots: dict[str, SchemaNode] | None = None,
        deny_all_rpcs: frozenset[tuple[str, str]] = frozenset(),
        xpath_names: frozenset[str] | None = None,
        fingerprint: str = "",
        datastore_modules: tuple[str, ...] = (),
    ) -> None:
        self.context = context
        # Client data is parsed and validated by libyang in a child process (started at the
        # first use): a crash of the C library costs one refused request, not the agent.
        self.libyang = LibyangProcess(directory or yang_directory(), datastore_modules)
        self.datastore_modules = datastore_modules  # those with configuration data
        self._modules = modules
        self.roots = roots
        self.data_roots = roots if data_roots is None else data_roots
        # (namespace, name) of the RPCs marked nacm:default-deny-all.
        self.deny_all_rpcs = deny_all_rpcs
        # Local names that XPath expressions (must, when, leafref path) of the modules name;
        # None: some expression can reach any node (``//``, ``*``, ``deref()``).
        self.xpath_names = xpath_names
        self.fingerprint = fingerprint  # of the YANG files: what validation judges by
        self.prefixes = {m.namespace: m.prefix for m in modules}
        self.module_names = {m.namespace: m.name for m in modules}
        # Top-level nodes below which values use module prefixes: the datastore declares the
        # prefixes on them (see agent.datastore.edit).
        self.prefixed_roots = frozenset(tag for tag, node in roots.items()
                                        if _has_prefixed_values(node))
        self.datastore_prefixes = {m.prefix: m.namespace for m in modules
                                   if m.name in datastore_modules}
        self.namespaces = frozenset(self.prefixes)  # checked for every edited element
        # Every list of every module, configuration and state: its path (Clark names from
        # the top-level node) -> its key names. For replies that must name list entries.
        self.list_keys: dict[tuple[str, ...], tuple[str, ...]] = {}

    @classmethod
    def load(cls, directory: pathlib.Path | None = None) -> Schema:
        directory = directory or yang_directory()
        # Keep libyang's errors on the context (read by the validator), never on stderr.
        ly.set_log_options(ly.LogOptions.Store)
        options = ly.ContextOptions.NoYangLibrary | ly.ContextOptions.DisableSearchCwd
        context = ly.Context(str(directory), options)

        repo = pyang_repository.FileRepository(str(directory), use_env=False)
        pctx = pyang_context.Context(repo)
        parsed: list[tuple[pathlib.Path, Any]] = []
        fingerprint = hashlib.sha256()
        for path in sorted(directory.glob("*.yang")):
            text = path.read_text(encoding="utf-8")
            fingerprint.update(f"{path.name}\0{text}\0".encode())
            module = pctx.add_module(str(path), text)
            if module is not None:
                parsed.append((path, module))
        pctx.validate()
        modules = [_module_info(path, module) for path, module in parsed]
        roots: dict[str, SchemaNode] = {}
        data_roots: dict[str, SchemaNode] = {}
        deny_all_rpcs: set[tuple[str, str]] = set()
        names: set[str] | None = set()
        for _, module in parsed:
            _index_children(module, None, (), data_roots, {})
            if _has_configuration(module):  # the datastores hold its data
                context.load_module(module.arg)
                _index_children(module, None, (), roots, {})
            names = _xpath_names(module, names)
            namespace = module.search_one("namespace").arg
            deny_all_rpcs.update((namespace, rpc.arg) for rpc in module.search("rpc")
                                 if rpc.search_one(_DENY_ALL) is not None)
        datastore_modules = tuple(m.arg for _, m in parsed if _has_configuration(m))
        schema = cls(context, modules, roots, directory, data_roots, frozenset(deny_all_rpcs),
                     None if names is None else frozenset(names), fingerprint.hexdigest(),
                     datastore_modules)
        for _, module in parsed:
            _index_list_keys(module, (), schema.list_keys)
        return schema

    def modules(self) -> list[ModuleInfo]:
        return list(self._modules)


def _module_info(path: pathlib.Path, module: Any) -> ModuleInfo:
    revision = module.search_one("revision")
    return ModuleInfo(
        name=module.arg,
        revision=revision.arg if revision is not None else None,
        namespace=module.search_one("namespace").arg,
        prefix=module.search_one("prefix").arg,
        path=path,
    )


_KINDS = {kind.value: kind for kind in NodeKind}  # YANG keyword -> kind
_TERMS = (NodeKind.LEAF, NodeKind.LEAF_LIST)
_PREFIXED_TYPES = frozenset({"instance-identifier", "xpath1.0"})


def _names_modules(leaf: Any) -> bool:
    """Whether the leaf's type is (derived from) instance-identifier or yang:xpath1.0."""
    type_stmt = leaf.search_one("type")
    while type_stmt is not None:
        if type_stmt.arg.rpartition(":")[2] in _PREFIXED_TYPES:
            return True
        typedef = getattr(type_stmt, "i_typedef", None)
        type_stmt = typedef.search_one("type") if typedef is not None else None
    return False


def _has_prefixed_values(node: SchemaNode) -> bool:
    return node.prefixed_value or any(_has_prefixed_values(c) for c in node.children.values())


def _default_text(leaf: Any) -> str | None:
    """The leaf's default (its own, else its typedef's), as pyang resolved it."""
    if getattr(leaf, "i_default", None) is None:
        return None
    return str(leaf.i_default_str)


def _has_configuration(module: Any) -> bool:
    return any(child.keyword in _KINDS and getattr(child, "i_config", True)
               for child in getattr(module, "i_children", []))


def _xpath_names(stmt: Any, names: set[str] | None) -> set[str] | None:
    """Add the node names the XPath expressions below ``stmt`` mention (None: any node)."""
    if names is None:
        return None
    for sub in stmt.substmts:
        if sub.keyword in ("must", "when", "path") and isinstance(sub.arg, str):
            expression = _XPATH_STRING.sub("''", sub.arg)
            if "*" in expression or "//" in expression or "deref" in expression:
                return None
            names.update(m.group(1) for m in _XPATH_NAME.finditer(expression)
                         if not m.group(2))  # not a function or an axis
        if _xpath_names(sub, names) is None:
            return None
    return names


def _index_children(
    stmt: Any,
    parent: SchemaNode | None,
    cases: tuple[tuple[int, str], ...],
    into: dict[str, SchemaNode],
    order: dict[str, int],
) -> None:
    """Index the data children of ``stmt`` (descending through choice/case) into ``into``."""
    for child in getattr(stmt, "i_children", []):
        keyword = child.keyword
        if keyword == "choice":
            for case in child.i_children:
                _index_children(case, parent, (*cases, (id(child), case.arg)), into, order)
            continue
        if keyword == "case":  # shorthand cases are wrapped by pyang; kept for safety
            _index_children(child, parent, cases, into, order)
            continue
        kind = _KINDS.get(keyword)
        if kind is None:  # rpc, action, notification: not data
            continue
        ordered_by = child.search_one("ordered-by")
        node = SchemaNode(
            name=child.arg,
            namespace=child.i_module.search_one("namespace").arg,
            kind=kind,
            config=bool(getattr(child, "i_config", True)),
            keys=tuple(k.arg for k in getattr(child, "i_key", None) or ()),
            user_ordered=ordered_by is not None and ordered_by.arg == "user",
            presence=child.search_one("presence") is not None,
            default=_default_text(child) if kind is NodeKind.LEAF else None,
            unique=child.search_one("unique") is not None,
            bounded=_bounded(child),
            cases=cases,
            parent=parent,
            canonical=for_type(child.search_one("type")) if kind in _TERMS else None,
            module=child.i_module.arg,
            deny_write=child.search_one(_DENY_WRITE) is not None,
            deny_all=child.search_one(_DENY_ALL) is not None,
            prefixed_value=kind in (NodeKind.LEAF, NodeKind.LEAF_LIST) and _names_modules(child),
        )
        into[node.tag] = node
        order[node.tag] = len(order)
        if kind in (NodeKind.CONTAINER, NodeKind.LIST):
            _index_children(child, node, (), node.children, node.order)
            if node.keys:  # RFC 7950 section 7.8.5: keys first, in key order
                key_tags = [f"{{{node.namespace}}}{k}" for k in node.keys]
                rest = [t for t in node.order if t not in key_tags]
                node.order = {t: i for i, t in enumerate(key_tags + rest)}


def _index_list_keys(stmt: Any, path: tuple[str, ...],
                     into: dict[tuple[str, ...], tuple[str, ...]]) -> None:
    """Record the keys of every list below ``stmt`` (choices and cases are transparent)."""
    for child in getattr(stmt, "i_children", []):
        if child.keyword in ("choice", "case"):
            _index_list_keys(child, path, into)
        elif child.keyword in ("container", "list"):
            tag = f"{{{child.i_module.search_one('namespace').arg}}}{child.arg}"
            if child.keyword == "list":
                into[(*path, tag)] = tuple(k.arg for k in getattr(child, "i_key", None) or ())
            _index_list_keys(child, (*path, tag), into)


def _bounded(stmt: Any) -> bool:
    low = stmt.search_one("min-elements")
    high = stmt.search_one("max-elements")
    return (low is not None and low.arg != "0") or (high is not None and high.arg != "unbounded")
