"""The ``/nacm`` configuration (RFC 8341 section 3.5), read from a committed ``<data>`` tree.

A missing ``nacm`` container, or missing leaves, take the module's defaults: NACM enabled,
read and exec permitted, write denied, external groups used, no groups and no rules.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from lxml import etree

NACM_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-acm"
NACM_TAG = f"{{{NACM_NS}}}nacm"
ALL = "*"


def _tag(name: str) -> str:
    return f"{{{NACM_NS}}}{name}"


class Access(enum.StrEnum):
    """RFC 8341 access-operations-type bits."""

    CREATE = "create"
    READ = "read"
    UPDATE = "update"
    DELETE = "delete"
    EXEC = "exec"


WRITES = (Access.CREATE, Access.UPDATE, Access.DELETE)


class RuleType(enum.Enum):
    ANY = "any"  # no rule-type: matches operations, notifications and data nodes alike
    RPC = "rpc-name"
    NOTIFICATION = "notification-name"
    PATH = "path"


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    module: str  # module-name, or "*"
    type: RuleType
    target: str  # rpc-name / notification-name / path value ("" for ANY)
    operations: frozenset[Access]
    permit: bool
    # The namespace prefixes in scope of the path leaf (its value names modules by them).
    prefixes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class RuleList:
    name: str
    groups: frozenset[str]  # "*": every group
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class NacmConfig:
    enabled: bool = True
    read_default: bool = True  # permit
    write_default: bool = False
    exec_default: bool = True
    external_groups: bool = True
    groups: tuple[tuple[str, frozenset[str]], ...] = ()  # (group, user names)
    rule_lists: tuple[RuleList, ...] = ()

    def groups_of(self, user: str, external: tuple[str, ...]) -> frozenset[str]:
        """RFC 8341 section 3.4.3 steps: the NACM groups naming ``user``, plus the external
        groups (the users file) when ``enable-external-groups`` is true."""
        found = {name for name, users in self.groups if user in users}
        if self.external_groups:
            found.update(external)
        return frozenset(found)


def _text(parent: etree._Element, name: str, default: str) -> str:
    value = parent.findtext(_tag(name))
    return default if value is None else value.strip()


def _operations(text: str) -> frozenset[Access]:
    if text == ALL:
        return frozenset(Access)
    return frozenset(Access(word) for word in text.split() if word in Access.__members__.values())


def _rule(element: etree._Element) -> Rule:
    rule_type, target = RuleType.ANY, ""
    prefixes: tuple[tuple[str, str], ...] = ()
    for kind in (RuleType.RPC, RuleType.NOTIFICATION, RuleType.PATH):
        found = element.find(_tag(kind.value))
        if found is not None:
            rule_type, target = kind, (found.text or "").strip()
            prefixes = tuple(sorted((k, v) for k, v in found.nsmap.items() if k))
            break
    return Rule(
        name=_text(element, "name", ""),
        module=_text(element, "module-name", ALL),
        type=rule_type,
        target=target,
        operations=_operations(_text(element, "access-operations", ALL)),
        permit=_text(element, "action", "deny") == "permit",
        prefixes=prefixes if rule_type is RuleType.PATH else (),
    )


def parse_config(data: etree._Element) -> NacmConfig:
    """The NACM configuration of a ``<data>`` tree (defaults where it says nothing)."""
    nacm = data.find(NACM_TAG)
    if nacm is None:
        return NacmConfig()
    groups = tuple(
        (_text(group, "name", ""),
         frozenset((u.text or "").strip() for u in group.iterchildren(_tag("user-name"))))
        for group in nacm.iterfind(f"{_tag('groups')}/{_tag('group')}")
    )
    rule_lists = tuple(
        RuleList(
            name=_text(entry, "name", ""),
            groups=frozenset((g.text or "").strip() for g in entry.iterchildren(_tag("group"))),
            rules=tuple(_rule(rule) for rule in entry.iterchildren(_tag("rule"))),
        )
        for entry in nacm.iterchildren(_tag("rule-list"))
    )
    return NacmConfig(
        enabled=_text(nacm, "enable-nacm", "true") == "true",
        read_default=_text(nacm, "read-default", "permit") == "permit",
        write_default=_text(nacm, "write-default", "deny") == "permit",
        exec_default=_text(nacm, "exec-default", "permit") == "permit",
        external_groups=_text(nacm, "enable-external-groups", "true") == "true",
        groups=groups,
        rule_lists=rule_lists,
    )


# First start (issue #11): NACM on with the RFC defaults, and group "admin" (the initial user's
# external group) permitted everything, secrets included.
INITIAL_CONFIG = f"""<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">
  <nacm xmlns="{NACM_NS}">
    <enable-nacm>true</enable-nacm>
    <read-default>permit</read-default>
    <write-default>deny</write-default>
    <exec-default>permit</exec-default>
    <enable-external-groups>true</enable-external-groups>
    <rule-list>
      <name>admin</name>
      <group>admin</group>
      <rule>
        <name>permit-all</name>
        <module-name>*</module-name>
        <access-operations>*</access-operations>
        <action>permit</action>
        <comment>Administrators may read and change everything, secrets included.</comment>
      </rule>
    </rule-list>
  </nacm>
</config>"""


def initial_config() -> etree._Element:
    return etree.fromstring(INITIAL_CONFIG)
