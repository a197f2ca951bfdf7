"""The access-control seam: what the NETCONF layer asks NACM (RFC 8341).

Theory of operation. :class:`AccessControl` reads the ``/nacm`` configuration from the running
datastore it is given, so a change takes effect when it is committed (and a rollback or a
confirmed-commit timeout restores the rules with the rest). A user's groups are those of the
configuration plus, with ``enable-external-groups``, those of the users file. The rules of
each set of groups are compiled once per configuration (:class:`agent.nacm.rules.UserRules`).

Each session holds a :class:`SessionAccess`, the one object the dispatcher and the operations
call: :meth:`~SessionAccess.check_rpc` before any operation runs (section 3.4.4),
:meth:`~SessionAccess.readable` on every datastore tree a reply is built from (section 3.4.5),
:meth:`~SessionAccess.write_check` for the change set of a write, and, for event
notifications (section 3.4.6), :meth:`~SessionAccess.admit`, which the session's
subscription asks before it queues an event (type, then content).

Running changes only by commits: the pruned view of running for one set of rules is made
once, then served like running itself and kept up to date from each commit's change set
(:mod:`agent.nacm.views`; the access control is a commit subscriber for that). A commit that
changes ``/nacm`` changes the rules: the views are made anew.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lxml import etree

from agent.datastore.changes import Authorize, ChangeSet
from agent.datastore.schema import Schema
from agent.datastore.subscriber import ConfigSnapshot
from agent.errors import ErrorTag, ErrorType, NetconfError, RpcError
from agent.nacm.config import NACM_NS, WRITES, Access, NacmConfig, parse_config
from agent.nacm.read import (
    NCN_NS,
    ReadPlan,
    prune,
    read_plan,
    readable_config_change,
    readable_subtree,
)
from agent.nacm.rules import BASE_NS, UserRules, Verdict
from agent.nacm.views import RunningViews
from agent.nacm.writes import chain_path, path_namespaces, refused

log = logging.getLogger("agent.nacm")

ExternalGroups = Callable[[str], Sequence[str]]
# RFC 5277 replayComplete / notificationComplete: the subscription's own events, not data.
NETMOD_NOTIFICATION_NS = "urn:ietf:params:xml:ns:netmod:notification"


@dataclass(slots=True)
class Counters:
    """RFC 8341 section 3.5 counters (since the server started)."""

    denied_operations: int = 0
    denied_data_writes: int = 0
    denied_notifications: int = 0


class AccessControl:
    def __init__(self, schema: Schema, running: Callable[[], ConfigSnapshot],
                 external_groups: ExternalGroups = lambda user: ()) -> None:
        self.schema = schema
        self._running = running
        self._external_groups = external_groups
        self.counters = Counters()
        self._generation: int | None = None
        self._config = NacmConfig()
        self._rules: dict[frozenset[str], UserRules] = {}
        self._plans: dict[int, ReadPlan] = {}
        self.views = RunningViews(schema)

    def config(self) -> NacmConfig:
        snapshot = self._running()
        if snapshot.generation != self._generation:
            config = parse_config(snapshot.data)
            if config != self._config:
                self._config = config
                self._rules.clear()
                self._plans.clear()
                self.views.clear()
            self._generation = snapshot.generation
        return self._config

    def session(self, username: str) -> SessionAccess:
        return SessionAccess(self, username)

    def rules_for(self, username: str) -> UserRules:
        config = self.config()
        groups = config.groups_of(username, tuple(self._external_groups(username)))
        rules = self._rules.get(groups)
        if rules is None:
            rules = self._rules[groups] = UserRules(config, groups, self.schema)
        return rules

    def plan(self, rules: UserRules) -> ReadPlan:
        plan = self._plans.get(id(rules))
        if plan is None:
            plan = self._plans[id(rules)] = read_plan(rules)
        return plan

    def running_view(self, snapshot: ConfigSnapshot, rules: UserRules) -> etree._Element:
        """Running as ``rules`` let it be read (the rules are those of this generation:
        :meth:`config` has seen it)."""
        return self.views.view(snapshot, rules, self.plan(rules))

    # -- the commit subscriber (agent.datastore.subscriber.CommitSubscriber) --------------

    def prepare(self, snapshot: ConfigSnapshot) -> None:
        pass

    def abort(self, snapshot: ConfigSnapshot) -> None:
        pass

    def commit(self, snapshot: ConfigSnapshot) -> None:
        """Note what the commit touched, for the views to catch up at their next read."""
        self.views.committed(snapshot.generation, snapshot.changes)

    def state(self) -> list[etree._Element]:
        """The counters, as ``/nacm`` state for ``<get>``."""
        nacm = etree.Element(f"{{{NACM_NS}}}nacm", nsmap={None: NACM_NS})  # type: ignore[dict-item]
        for name, value in (("denied-operations", self.counters.denied_operations),
                            ("denied-data-writes", self.counters.denied_data_writes),
                            ("denied-notifications", self.counters.denied_notifications)):
            etree.SubElement(nacm, f"{{{NACM_NS}}}{name}").text = str(value)
        return [nacm]


class SessionAccess:
    """One user's access, as the dispatcher and the operations ask for it."""

    def __init__(self, control: AccessControl, username: str) -> None:
        self.control = control
        self.username = username

    def rules(self) -> UserRules:
        return self.control.rules_for(self.username)

    # -- operations -------------------------------------------------------------------

    def check_rpc(self, namespace: str, name: str) -> None:
        """Section 3.4.4; ``access-denied`` (and a count) when the user may not invoke it."""
        if self.rules().may_exec(namespace, name):
            return
        self.control.counters.denied_operations += 1
        prefix = "nc" if namespace == BASE_NS else \
            self.control.schema.prefixes.get(namespace, "op")
        log.info("access denied: %s may not invoke %s", self.username, name)
        raise NetconfError(RpcError(
            ErrorType.PROTOCOL, ErrorTag.ACCESS_DENIED,
            f"Access denied: {name!r} is not permitted to this user.",
            path=f"/{prefix}:{name}", path_namespaces=((prefix, namespace),),
        ))

    # -- reading ----------------------------------------------------------------------

    def readable(self, data: etree._Element) -> etree._Element:
        """``data`` (the caller's own ``<data>`` tree) without what this user may not read,
        pruned in place."""
        rules = self.rules()
        plan = self.control.plan(rules)
        if not plan.empty:
            prune(data, rules, plan)
        return data

    def readable_running(self, snapshot: ConfigSnapshot) -> etree._Element:
        """Running (read-only) as this user may read it: running itself when nothing is
        hidden from the user, else a pruned copy shared by the users with the same rules."""
        rules = self.rules()
        if self.control.plan(rules).empty:
            return snapshot.data
        return self.control.running_view(snapshot, rules)

    # -- writing ----------------------------------------------------------------------

    def write_check(self) -> Authorize | None:
        """The check a write's change set must pass; None when every write is permitted."""
        rules = self.rules()
        if all(rules.uniform_everywhere(access) is Verdict.PERMIT for access in WRITES):
            return None

        def authorize(changes: ChangeSet) -> None:
            denied = refused(rules, changes)
            if denied is None:
                return
            self.control.counters.denied_data_writes += 1
            path = chain_path(denied, rules)
            log.info("access denied: %s may not write %s", self.username, path)
            raise NetconfError(RpcError(
                ErrorType.APPLICATION, ErrorTag.ACCESS_DENIED,
                "Access denied: this user may not make this change.",
                path=path, path_namespaces=path_namespaces(denied, rules),
            ))

        return authorize

    # -- notifications (for the event stream) -------------------------------------------

    def may_receive(self, namespace: str, name: str) -> bool:
        """Section 3.4.6: whether this notification type may be sent to the user (counted
        in denied-notifications when not)."""
        if self.rules().may_receive(namespace, name):
            return True
        self.control.counters.denied_notifications += 1
        return False

    def may_receive_event(self, content: etree._Element) -> bool:
        """:meth:`may_receive` for an event's content element (``<netconf-config-change>``);
        RFC 5277's own replayComplete / notificationComplete always pass."""
        namespace, name = etree.QName(content).namespace or "", etree.QName(content).localname
        if namespace == NETMOD_NOTIFICATION_NS:
            return True
        return self.may_receive(namespace, name)

    def readable_notification(self, content: etree._Element) -> etree._Element | None:
        """A notification's content element as this user may read it; None: nothing of it
        may be read. A ``netconf-config-change`` keeps the edits whose target the user may
        read (RFC 6470 names the changed node there); content that is itself a datastore
        node is pruned like data. Other events carry no datastore data (the shipped YANG
        notifications hold no node marked ``nacm:default-deny-all``: tested) and pass."""
        rules = self.rules()
        if rules.uniform_everywhere(Access.READ) is Verdict.PERMIT:
            return content
        tag = content.tag
        if tag == f"{{{NCN_NS}}}netconf-config-change":
            return readable_config_change(content, rules)
        if not isinstance(tag, str) or tag not in rules.schema.data_roots:
            return content
        plan = self.control.plan(rules)
        if plan.empty:
            return content
        return readable_subtree(content, rules, plan)

    def admit(self, content: etree._Element) -> etree._Element | None:
        """Section 3.4.6 for one event about to be queued for this user's subscription:
        None when it is not sent (its type is denied: counted), else its content as the
        user may read it."""
        if not self.may_receive_event(content):
            return None
        return self.readable_notification(content)
