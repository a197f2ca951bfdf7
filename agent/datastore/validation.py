"""Validation of a configuration with libyang.

Theory of operation. libyang is handed the tree in chunks (:mod:`agent.datastore.chunks`):
the entries of lists the schema shows to be independent of each other go in chunks of
``chunk_size``, each with the rest of the tree, which keeps a parse linear in the number of
entries and gives the errors of one parse of the whole. When the caller gives the changes
made since the last valid configuration (a change set), only the entries they touched are
checked if they touched nothing else: the incremental path a one-entry commit takes.

Two passes (issue #16). libyang 4.x, asked for every error (``MultiError``), goes on to
validate after a value failed to parse, and an entry whose key did not parse has been freed by
then while its leafrefs are still queued for validation: a use-after-free that kills the agent
(``lyd_validate_unres``; reproduced with libyang 4.2.1 and 4.5.5). So each text is first
*parsed* with every error reported (``ParseOnly``: no validation step, safe), and validated
only if it parsed. Valid data, the usual case, costs one pass: validation that stops at the
first error (without ``MultiError`` libyang never validates what failed to parse) is tried
first, and the two passes run only when it finds a fault. When a chunk does not parse, its
entries are parsed one by one: those that do are still validated together (so every fault is
still reported), and the others' errors get the entry's own path (libyang names an entry
whose key is invalid without its key).

libyang errors are mapped to RFC 6241 error-tags by their error-app-tag (RFC 7950 section 15)
and, when there is none, by the kind of schema node at the error's data path; never by
message text. Checks that need more than the model (certificates that parse, keys that match)
belong to whoever uses the values: the negotiator's commit veto does them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import oopt_gnpy_libyang as ly
from lxml import etree

from agent.datastore.changes import Change
from agent.datastore.chunks import Chunker
from agent.datastore.edit import clip
from agent.datastore.keyindex import KeyIndex
from agent.datastore.libyang_process import ChildFailed, LibyangError
from agent.datastore.paths import (
    element_path,
    libyang_path_to_instance_id,
    path_step,
    split_steps,
)
from agent.datastore.schema import Schema, SchemaNode
from agent.errors import ErrorTag, ErrorType, RpcError

# RFC 7950 section 15: error-app-tag -> error-tag.
_APP_TAG_TO_TAG = {
    "instance-required": ErrorTag.DATA_MISSING,  # 15.5
    "missing-choice": ErrorTag.DATA_MISSING,  # 15.6
    "too-few-elements": ErrorTag.OPERATION_FAILED,  # 15.3
    "too-many-elements": ErrorTag.OPERATION_FAILED,  # 15.2
    "data-not-unique": ErrorTag.OPERATION_FAILED,  # 15.1
    "must-violation": ErrorTag.OPERATION_FAILED,  # 15.4
}

_PARSE = ly.ParseOptions.Strict | ly.ParseOptions.ParseOnly  # values only: never validates
_VALIDATE = ly.ParseOptions.Strict  # parse and validate: only text that parsed (see above)


class Validator:
    def __init__(self, schema: Schema, chunk_size: int = 50) -> None:
        self.schema = schema
        self.chunk_size = chunk_size
        self._module_prefixes = {m.name: m.prefix for m in schema.modules()}
        self._module_namespaces = {m.name: m.namespace for m in schema.modules()}
        self._chunker = Chunker(schema)
        data_namespaces = {node.namespace for node in schema.roots.values()}
        self._path_namespaces = tuple((prefix, namespace) for namespace, prefix
                                      in schema.prefixes.items() if namespace in data_namespaces)

    def inside_entries(self, changes: Iterable[Change]) -> bool:
        """Whether ``changes`` all lie inside entries of independent lists (then the tree
        outside them, the skeleton, is as it was)."""
        return self._chunker.scope(changes) is not None

    def check(self, data: etree._Element, changes: Iterable[Change] | None = None, *,
              parse_only: bool = False, index: KeyIndex | None = None,
              skeleton_key: object = None) -> list[RpcError]:
        """Every error in ``data`` (a ``<data>`` element). ``changes``: those made since a
        valid configuration, which may limit what is checked (None: everything).

        ``parse_only`` checks values (types, ranges, patterns) but not references, mandatory
        nodes or must expressions: the check an edit gets before it lands in the candidate.
        ``index`` (of ``data``'s list entries) finds the changed entries quickly.
        ``skeleton_key``: equal keys promise an equal tree outside those entries, whose
        serialisation is then reused (None: no promise).
        """
        scope = self._chunker.scope(changes)
        errors: list[RpcError] = []
        seen: set[tuple[str | None, str, str | None]] = set()
        for head, tail, chunk in self._chunker.chunks(data, scope, index, self.chunk_size,
                                                      skeleton_key):
            for error in self._chunk_errors(head, tail, chunk, parse_only):
                key = (error.path, error.message, error.app_tag)
                if key not in seen:  # the shared part is checked in every chunk
                    seen.add(key)
                    errors.append(error)
        errors = _drop_consequential(errors)
        errors.sort(key=lambda e: e.path or "")  # deterministic, grouped by node
        return errors

    # -- libyang ----------------------------------------------------------------------

    def _chunk_errors(self, head: str, tail: str, entries: list[tuple[etree._Element, str]],
                      parse_only: bool) -> list[RpcError]:
        """Every error of ``head + entries + tail``; libyang validates only text that parsed."""
        text = head + "".join(entry_text for _, entry_text in entries) + tail
        if not parse_only and not self._libyang_errors(text, _VALIDATE, every_error=False):
            return []  # valid, the usual case: one pass that would stop at the first error
        errors = self._libyang_errors(text, _PARSE)
        if not errors:
            return [] if parse_only else self._libyang_errors(text, _VALIDATE)
        if not entries or self._libyang_errors(head + tail, _PARSE):
            return errors  # the part every entry shares does not parse: values first
        found: list[RpcError] = []
        parsed: list[str] = []
        for entry, entry_text in entries:
            entry_errors = self._libyang_errors(head + entry_text + tail, _PARSE)
            if entry_errors:
                found.extend(self._at_entry(error, entry) for error in entry_errors)
            else:
                parsed.append(entry_text)
        if not found:  # only the entries together fail to parse: report that, validate nothing
            return errors
        if not parse_only:
            found.extend(self._libyang_errors(head + "".join(parsed) + tail, _VALIDATE))
        return found

    def _at_entry(self, error: RpcError, entry: etree._Element) -> RpcError:
        """``error`` with the path of ``entry`` where libyang could not name it by its key."""
        parent = entry.getparent()
        if error.path is None or parent is None:
            return error
        unkeyed = element_path(parent, self.schema) + path_step(entry, None, self.schema)
        if error.path != unkeyed and not error.path.startswith(unkeyed + "/"):
            return error
        return dataclasses.replace(
            error, path=element_path(entry, self.schema) + error.path[len(unkeyed):])

    def _libyang_errors(self, text: str, parse: ly.ParseOptions, *,
                        every_error: bool = True) -> list[RpcError]:
        validation = ly.ValidationOptions.NoState
        if every_error:
            validation = validation | ly.ValidationOptions.MultiError
        try:
            found = self.schema.libyang.parse(text, int(parse), int(validation))
        except ChildFailed:
            # libyang died on this document (logged; a new child serves the next request):
            # refuse it rather than let unchecked data in.
            return [RpcError(ErrorType.APPLICATION, ErrorTag.OPERATION_FAILED,
                             "The configuration could not be checked: the validator failed on "
                             "it (see the agent's log). Nothing was changed.")]
        return [self._map(error) for error in found]

    def _map(self, error: LibyangError) -> RpcError:
        data_path = error.data_path
        node = self._schema_node_at(data_path)
        app_tag: str | None = error.app_tag or None
        if app_tag is not None:
            tag = _APP_TAG_TO_TAG.get(app_tag, ErrorTag.OPERATION_FAILED)  # must's own tag
        elif error.validation_code == ly.ValidationErrorCode.Reference.name:
            tag = ErrorTag.UNKNOWN_ELEMENT  # no such schema node (the edit layer rejects these)
        elif error.validation_code != ly.ValidationErrorCode.Data.name:
            tag = ErrorTag.OPERATION_FAILED
        elif node is not None and node.is_term:
            tag = ErrorTag.INVALID_VALUE  # type, range, length, pattern, enum
        else:
            tag = ErrorTag.DATA_MISSING  # a mandatory node below this one is missing
        # One line, and bounded: libyang quotes the offending value (a certificate can be long).
        message = clip(" ".join(error.message.split()), 400)
        # A secret (nacm:default-deny-all, RFC 8341) is never echoed in an error message.
        if node is not None and node.deny_all and tag is ErrorTag.INVALID_VALUE:
            message = (f"Invalid {node.name}: the value does not satisfy its type "
                       "(length or pattern). The value is secret and not shown.")
        path = (libyang_path_to_instance_id(data_path, self._module_prefixes)
                if data_path else None)
        used = tuple((prefix, namespace) for prefix, namespace in self._path_namespaces
                     if path is not None and (f"/{prefix}:" in path or f"[{prefix}:" in path))
        return RpcError(ErrorType.APPLICATION, tag, message, app_tag=app_tag, path=path,
                        path_namespaces=used)

    def _schema_node_at(self, data_path: str) -> SchemaNode | None:
        node: SchemaNode | None = None
        children = self.schema.roots
        namespace = ""
        for segment, _ in split_steps(data_path):
            if ":" in segment:
                module, segment = segment.split(":", 1)
                namespace = self._module_namespaces.get(module, "")
            node = children.get(f"{{{namespace}}}{segment}")
            if node is None:
                return None
            children = node.children
        return node


def _drop_consequential(errors: list[RpcError]) -> list[RpcError]:
    """Drop "missing" errors caused by an invalid value libyang already reported and dropped.

    An invalid leaf is not stored, so libyang also reports its mandatory parent choice or
    leaf as missing; that second error would only mislead.
    """
    invalid = [e.path for e in errors if e.tag is ErrorTag.INVALID_VALUE and e.path]
    if not invalid:
        return errors
    kept = []
    for error in errors:
        if (error.tag is ErrorTag.DATA_MISSING and error.app_tag in (None, "missing-choice")
                and error.path and any(p.startswith(error.path + "/") for p in invalid)):
            continue
        kept.append(error)
    return kept


