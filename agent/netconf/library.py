"""The YANG modules this server announces: hello capabilities, YANG library, get-schema.

One :class:`ModuleLibrary` is built at start-up from the datastore schema's modules plus the
protocol modules the NETCONF layer itself implements (ietf-netconf-monitoring,
ietf-yang-library and ietf-datastores, shipped in ``yang/``). From it come:

- the ``<hello>`` capabilities: RFC 6241 base and feature capabilities, one module capability
  per YANG 1.0 module (RFC 6020 section 5.6.4) and the RFC 8526 section 2 :yang-library:1.1
  capability with the content-id (the 1.0 one of RFC 7950 section 5.6.4 promises the RFC 7895
  ``/modules-state`` tree, which this server does not have);
- the RFC 8525 ``<yang-library>`` tree (same content-id);
- the RFC 6022 ``<schemas>`` list and the module text for ``<get-schema>``.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import pathlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lxml import etree

from agent.errors import ErrorTag, ErrorType, NetconfError
from agent.netconf.filters import ListKeys
from agent.netconf.ports import ModuleLike
from agent.netconf.session import BASE_1_0, BASE_1_1
from agent.netconf.with_defaults import CAPABILITY as WITH_DEFAULTS_CAPABILITY
from agent.netconf.xmlutil import (
    DATASTORES_NS,
    MONITORING_NS,
    YANG_LIBRARY_NS,
    bad_value,
    new_element,
    sub_text,
)

PROTOCOL_MODULE_FILES = (
    "ietf-netconf-monitoring@2010-10-04.yang",
    "ietf-yang-library@2019-01-04.yang",
    "ietf-datastores@2018-02-14.yang",
)
YANG_LIBRARY_REVISION = "2019-01-04"
FEATURE_CAPABILITIES = (
    BASE_1_0,
    BASE_1_1,
    "urn:ietf:params:netconf:capability:candidate:1.0",
    "urn:ietf:params:netconf:capability:confirmed-commit:1.0",
    "urn:ietf:params:netconf:capability:confirmed-commit:1.1",
    "urn:ietf:params:netconf:capability:validate:1.0",
    "urn:ietf:params:netconf:capability:validate:1.1",
    "urn:ietf:params:netconf:capability:rollback-on-error:1.0",
    "urn:ietf:params:netconf:capability:xpath:1.0",
    "urn:ietf:params:netconf:capability:notification:1.0",  # RFC 5277 section 3.1.1
    "urn:ietf:params:netconf:capability:interleave:1.0",  # RFC 5277 section 6
    WITH_DEFAULTS_CAPABILITY,  # RFC 6243 section 4.3
)
DATASTORES = ("running", "candidate")

_NAMESPACE = re.compile(r'^\s*namespace\s+"?([^";\s]+)"?\s*;', re.MULTILINE)
_PREFIX = re.compile(r'^\s*prefix\s+"?([^";\s]+)"?\s*;', re.MULTILINE)
_VERSION = re.compile(r'^\s*yang-version\s+"?([0-9.]+)"?\s*;', re.MULTILINE)
_IMPORT = re.compile(r"^\s*import\s+([A-Za-z0-9_.-]+)", re.MULTILINE)
_DATA_DEFINITION = re.compile(
    r"^  (container|list|leaf|leaf-list|rpc|notification|augment|anydata|anyxml)\s", re.MULTILINE
)


@dataclass(frozen=True, slots=True)
class ModuleEntry:
    name: str
    revision: str | None
    namespace: str
    prefix: str
    path: pathlib.Path
    yang_version: str
    imports: tuple[str, ...]
    defines_data: bool

    @classmethod
    def from_file(
        cls, path: pathlib.Path, *, name: str | None = None, revision: str | None = None
    ) -> ModuleEntry:
        text = path.read_text(encoding="utf-8")
        stem_name, _, stem_revision = path.stem.partition("@")
        namespace = _NAMESPACE.search(text)
        prefix = _PREFIX.search(text)
        version = _VERSION.search(text)
        return cls(
            name=name or stem_name,
            revision=revision or stem_revision or None,
            namespace=namespace.group(1) if namespace else "",
            prefix=prefix.group(1) if prefix else "",
            path=path,
            yang_version=version.group(1) if version else "1",
            imports=tuple(_IMPORT.findall(text)),
            defines_data=bool(_DATA_DEFINITION.search(text)),
        )

    def capability(self) -> str:
        uri = f"{self.namespace}?module={self.name}"
        return f"{uri}&revision={self.revision}" if self.revision else uri


def protocol_modules() -> list[pathlib.Path]:
    root = importlib.resources.files("ike_yang")
    return [pathlib.Path(str(root.joinpath(name))) for name in PROTOCOL_MODULE_FILES]


class ModuleLibrary:
    def __init__(self, modules: Iterable[ModuleEntry], list_keys: ListKeys | None = None,
                 ) -> None:
        # The keys of each list of the modules' data (from the schema): replies that name
        # list entries, such as an XPath filter's, carry them.
        self.list_keys: ListKeys = list_keys or {}
        unique: dict[tuple[str, str | None], ModuleEntry] = {}
        for module in modules:
            unique.setdefault((module.name, module.revision), module)
        self.modules: tuple[ModuleEntry, ...] = tuple(
            sorted(unique.values(), key=lambda m: (m.name, m.revision or ""))
        )
        digest = hashlib.sha256(
            "\n".join(f"{m.name}@{m.revision or ''}" for m in self.modules).encode()
        )
        self.content_id = digest.hexdigest()[:16]

    @classmethod
    def build(cls, schema_modules: Sequence[ModuleLike], list_keys: ListKeys | None = None,
              ) -> ModuleLibrary:
        entries = [
            ModuleEntry.from_file(m.path, name=m.name, revision=m.revision) for m in schema_modules
        ]
        entries += [ModuleEntry.from_file(path) for path in protocol_modules()]
        return cls(entries, list_keys)

    def is_import_only(self, module: ModuleEntry) -> bool:
        imported = any(module.name in other.imports for other in self.modules)
        return imported and not module.defines_data

    def capabilities(self) -> list[str]:
        result = list(FEATURE_CAPABILITIES)
        # RFC 7950 section 5.6.4: YANG 1.1 modules are announced through the YANG library only.
        result += [m.capability() for m in self.modules if m.yang_version != "1.1"]
        result.append(
            "urn:ietf:params:netconf:capability:yang-library:1.1"
            f"?revision={YANG_LIBRARY_REVISION}&content-id={self.content_id}"
        )
        return result

    def yang_library(self) -> etree._Element:
        """RFC 8525 ``/yang-library``: one module set used by every datastore."""
        root = new_element(
            f"{{{YANG_LIBRARY_NS}}}yang-library", nsmap={None: YANG_LIBRARY_NS, "ds": DATASTORES_NS}
        )
        module_set = etree.SubElement(root, f"{{{YANG_LIBRARY_NS}}}module-set")
        sub_text(module_set, f"{{{YANG_LIBRARY_NS}}}name", "complete")
        for module in self.modules:
            kind = "import-only-module" if self.is_import_only(module) else "module"
            entry = etree.SubElement(module_set, f"{{{YANG_LIBRARY_NS}}}{kind}")
            sub_text(entry, f"{{{YANG_LIBRARY_NS}}}name", module.name)
            if module.revision or kind == "import-only-module":
                sub_text(entry, f"{{{YANG_LIBRARY_NS}}}revision", module.revision or "")
            sub_text(entry, f"{{{YANG_LIBRARY_NS}}}namespace", module.namespace)
        schema = etree.SubElement(root, f"{{{YANG_LIBRARY_NS}}}schema")
        sub_text(schema, f"{{{YANG_LIBRARY_NS}}}name", "complete")
        sub_text(schema, f"{{{YANG_LIBRARY_NS}}}module-set", "complete")
        for name in (*DATASTORES, "operational"):
            datastore = etree.SubElement(root, f"{{{YANG_LIBRARY_NS}}}datastore")
            sub_text(datastore, f"{{{YANG_LIBRARY_NS}}}name", f"ds:{name}")
            sub_text(datastore, f"{{{YANG_LIBRARY_NS}}}schema", "complete")
        sub_text(root, f"{{{YANG_LIBRARY_NS}}}content-id", self.content_id)
        return root

    def schemas(self) -> etree._Element:
        """RFC 6022 ``/netconf-state/schemas``."""
        schemas = etree.Element(f"{{{MONITORING_NS}}}schemas")
        for module in self.modules:
            schema = etree.SubElement(schemas, f"{{{MONITORING_NS}}}schema")
            sub_text(schema, f"{{{MONITORING_NS}}}identifier", module.name)
            sub_text(schema, f"{{{MONITORING_NS}}}version", module.revision or "")
            sub_text(schema, f"{{{MONITORING_NS}}}format", "yang")
            sub_text(schema, f"{{{MONITORING_NS}}}namespace", module.namespace)
            sub_text(schema, f"{{{MONITORING_NS}}}location", "NETCONF")
        return schemas

    def find(self, identifier: str, version: str | None, fmt: str | None) -> ModuleEntry:
        """RFC 6022 section 3.1: the module get-schema asks for."""
        if fmt is not None and fmt.rpartition(":")[2] != "yang":
            raise bad_value("format", f"unsupported schema format {fmt!r}")
        matches = [
            m
            for m in self.modules
            if m.name == identifier and (not version or (m.revision or "") == version)
        ]
        if not matches:
            raise bad_value("identifier", f"no schema {identifier!r} (version {version or 'any'})")
        if len(matches) > 1:
            raise NetconfError.single(
                ErrorType.PROTOCOL,
                ErrorTag.OPERATION_FAILED,
                f"several versions of {identifier!r}: name one",
                app_tag="data-not-unique",
            )
        return matches[0]
