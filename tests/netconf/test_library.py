"""Module library: hello capabilities, content-id, YANG library shape, get-schema lookup."""

from __future__ import annotations

import dataclasses
import pathlib

import pytest

from agent.errors import NetconfError
from agent.netconf.library import ModuleEntry, ModuleLibrary, protocol_modules
from agent.netconf.xmlutil import YANG_LIBRARY_NS
from tests.xpath_results import xpath_texts

from .fakes import ike_module

Y = {"y": YANG_LIBRARY_NS}


def library() -> ModuleLibrary:
    return ModuleLibrary.build([ike_module()])


def test_protocol_modules_ship_in_the_yang_package() -> None:
    names = {path.name for path in protocol_modules()}
    assert "ietf-netconf-monitoring@2010-10-04.yang" in names
    assert all(path.exists() for path in protocol_modules())


def test_capabilities_and_content_id() -> None:
    lib = library()
    caps = lib.capabilities()
    assert caps[:2] == ["urn:ietf:params:netconf:base:1.0", "urn:ietf:params:netconf:base:1.1"]
    assert "urn:ietf:params:netconf:capability:candidate:1.0" in caps
    assert not any("writable-running" in c for c in caps)
    with_defaults = "urn:ietf:params:netconf:capability:with-defaults:1.0?basic-mode=explicit&"
    assert any(c.startswith(with_defaults) for c in caps)
    # RFC 8526 section 2: an RFC 8525 library is announced as :yang-library:1.1 with content-id
    # (yangcli 2.13 reads :yang-library:1.0 as "has /modules-state" and aborts without it).
    assert caps[-1] == (
        "urn:ietf:params:netconf:capability:yang-library:1.1"
        f"?revision=2019-01-04&content-id={lib.content_id}"
    )
    assert not any("yang-library:1.0" in c for c in caps)
    assert library().content_id == lib.content_id  # deterministic
    fewer = ModuleLibrary([m for m in lib.modules if m.name != "ietf-datastores"])
    assert fewer.content_id != lib.content_id


def test_yang_library_lists_implemented_and_import_only_modules() -> None:
    yang_dir = ike_module().path.parent
    types = [
        ModuleEntry.from_file(yang_dir / "ietf-inet-types@2013-07-15.yang"),
        ModuleEntry.from_file(yang_dir / "ietf-yang-types@2013-07-15.yang"),
    ]
    tree = ModuleLibrary([*library().modules, *types]).yang_library()
    implemented = xpath_texts(tree, "//y:module-set/y:module/y:name/text()", Y)
    import_only = xpath_texts(tree, "//y:module-set/y:import-only-module/y:name/text()", Y)
    assert {"ike-security", "ietf-netconf-monitoring", "ietf-yang-library"} <= set(implemented)
    assert {"ietf-inet-types", "ietf-yang-types", "ietf-datastores"} <= set(import_only)
    assert tree.xpath("//y:datastore/y:name/text()", namespaces=Y) == [
        "ds:running",
        "ds:candidate",
        "ds:operational",
    ]


def test_duplicate_modules_from_schema_and_protocol_list_are_merged(tmp_path: pathlib.Path) -> None:
    lib = library()
    again = ModuleLibrary([*lib.modules, *lib.modules])
    assert again.modules == lib.modules


def test_find_for_get_schema() -> None:
    lib = library()
    assert lib.find("ike-security", None, None).revision == "2026-11-26"
    assert lib.find("ike-security", "2026-11-26", "ncm:yang").name == "ike-security"
    for args in (("ike-security", "1999-01-01", None), ("nope", None, None)):
        with pytest.raises(NetconfError) as missing:
            lib.find(*args)
        assert missing.value.errors[0].tag.value == "invalid-value"
    with pytest.raises(NetconfError) as fmt:
        lib.find("ike-security", None, "yin")
    assert fmt.value.errors[0].tag.value == "invalid-value"
    ike = lib.find("ike-security", None, None)
    older = dataclasses.replace(ike, revision="2020-01-01")
    with pytest.raises(NetconfError) as ambiguous:
        ModuleLibrary([ike, older]).find("ike-security", None, None)
    assert ambiguous.value.errors[0].app_tag == "data-not-unique"


def test_module_entry_reads_yang_version_and_imports() -> None:
    entry = ModuleEntry.from_file(ike_module().path)
    assert entry.yang_version == "1"
    assert entry.imports == ("ietf-inet-types", "ietf-yang-types", "ietf-netconf-acm")
    assert entry.namespace == "urn:ike-agent:yang:ike-security" and entry.prefix == "ike"
