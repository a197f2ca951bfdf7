"""UserRules on their own: rule order, groups, module names, keyed paths, default marks."""

from __future__ import annotations

from lxml import etree

from agent.datastore.schema import NodeKind, Schema, SchemaNode
from agent.nacm.config import Access, NacmConfig, Rule, RuleList, RuleType, parse_config
from agent.nacm.rules import BASE_NS, UserRules, Verdict, compile_path

IKE = "urn:ike-agent:yang:ike-security"


def rules(*rule_list: Rule, groups: frozenset[str] = frozenset({"g"}), enabled: bool = True,
          write_default: bool = False) -> UserRules:
    config = NacmConfig(enabled=enabled, write_default=write_default,
                        rule_lists=(RuleList("l", frozenset({"g"}), rule_list),))
    return UserRules(config, groups, Schema.load())


def test_module_defaults_and_parse() -> None:
    config = parse_config(etree.fromstring("<data/>"))
    assert (config.enabled, config.read_default, config.write_default,
            config.exec_default) == (True, True, False, True)
    assert config.groups_of("bob", ("ext",)) == frozenset({"ext"})


def test_exec_rules_first_match_and_built_in_denials() -> None:
    deny_get = Rule("r", "ietf-netconf", RuleType.RPC, "get", frozenset({Access.EXEC}), False)
    user = rules(deny_get)
    assert not user.may_exec(BASE_NS, "get")
    assert user.may_exec(BASE_NS, "get-config")
    assert user.may_exec(BASE_NS, "close-session")
    assert not user.may_exec(BASE_NS, "kill-session")
    assert not user.may_exec(BASE_NS, "delete-config")
    other_group = rules(deny_get, groups=frozenset({"h"}))
    assert other_group.may_exec(BASE_NS, "get")
    assert rules(enabled=False).may_exec(BASE_NS, "kill-session")


def test_default_deny_write_and_all_marks() -> None:
    user = rules(write_default=True)
    parent = SchemaNode("x", IKE, NodeKind.CONTAINER, True, deny_write=True, module="m")
    child = SchemaNode("y", IKE, NodeKind.LEAF, True, parent=parent, module="m")
    assert user.verdict(Access.READ, child) is Verdict.PERMIT
    assert user.verdict(Access.UPDATE, child) is Verdict.DENY  # inherited from the parent
    secret = SchemaNode("z", IKE, NodeKind.LEAF, True, deny_all=True, module="m")
    assert user.verdict(Access.READ, secret) is Verdict.DENY
    permit = Rule("r", "m", RuleType.ANY, "", frozenset(Access), True)
    assert rules(permit).verdict(Access.READ, secret) is Verdict.PERMIT


def test_keyed_paths_are_judged_per_instance() -> None:
    path = compile_path("/ike:security/ike:ike/ike:policy[ike:name='a']", {"ike": IKE})
    assert [s.tag.split("}")[1] for s in path.steps] == ["security", "ike", "policy"]
    assert path.steps[-1].predicates == ((f"{{{IKE}}}name", "a"),)
    assert not compile_path("/nope:x", {}).valid
    assert compile_path("/", {}).steps == ()
