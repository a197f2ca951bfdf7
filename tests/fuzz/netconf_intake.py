"""Fuzz harness: the XML intake of edit-config, copy-config, validate and get-config filters,
against the real datastore and the real YANG model (agent/datastore, agent/netconf/operations.py,
agent/netconf/filters.py), through the real NETCONF path: session parse, dispatcher, handler,
reply.

Input: operation byte, option byte, then the body the harness places in the operation (the
fuzzer writes XML data nodes, a subtree filter, an XPath expression, or the whole ``<rpc>``):

    0 edit-config   <config>BODY</config>, default-operation / test-option / error-option
                    from the option byte (and "commit after it" from its top bit)
    1 copy-config   <source><config>BODY</config></source> to the candidate (commit bit too)
    2 validate      <source><config>BODY</config></source>
    3 get-config    <filter type="subtree">BODY</filter>, running or candidate
    4 get-config    <filter type="xpath" select="BODY"/>
    5 raw           BODY is the whole <rpc>
    6 ordered edit  edit-config (options as for 0) of a policy's ``proposals`` entries with
                    ``yang:insert`` / ``yang:value`` / ``nc:operation`` drawn by the harness
                    (RFC 7950 7.8.6: moves of ordered-by user entries), then raw XML

The ``<rpc>`` declares the prefixes ``nc`` (base 1.0: ``nc:operation``) and ``yang`` (RFC 7950:
``yang:insert``, ``yang:key``, ``yang:value``), and :data:`DICTIONARY` gives libFuzzer the
model's element names, enumerations and those attributes: the namespace of an attribute is
matched inside lxml (native code, no comparison the fuzzer sees), so without them it would
have to guess a 30-character URN (FUZZING.md, the planted journal bug).

The datastore starts each input from the seed configuration committed to running, with an
unmodified candidate. Invariants:

- no internal error: the dispatcher's catch-all (an ERROR log line with a traceback, and
  ``operation-failed`` "internal error" to the client) never fires;
- every reply is a well-formed ``<rpc-reply>`` (``<ok/>``, data, or rpc-errors whose children,
  types and tags are those of RFC 6241), never a traceback, never the running pre-shared key in
  an rpc-error;
- running is unchanged by everything but a successful commit (an edit, a copy, a validate, a
  refused commit: byte for byte);
- on an error the candidate is unchanged (except with continue-on-error, RFC 6241 7.2); with
  test-only it is unchanged either way; when an edit is accepted, the candidate read twice is
  the same (its journals replay the same way) and a commit makes running exactly that.
"""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

from agent.datastore.schema import Schema
from agent.datastore.store import Datastore
from agent.errors import NetconfError
from agent.extensions import RpcContext
from agent.netconf.dispatch import Dispatcher
from agent.netconf.locks import LockTable
from agent.netconf.operations import ConfigOperations
from agent.netconf.session import NetconfSession, RpcReceived
from tests.fuzz.draw import Draw
from tests.fuzz.internal import InternalErrors
from tests.fuzz.netconf_session import CAPABILITIES, hello
from tests.fuzz.replies import check_reply, is_error

IKE_NS = "urn:ike-agent:yang:ike-security"
NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
YANG = "urn:ietf:params:xml:ns:yang:1"  # RFC 7950 section 7.8.6: insert, key, value
SEED_PSK = "seed-psk-7f3a99c1"  # must never appear in an rpc-error
SEED = (
    f'<security xmlns="{IKE_NS}"><ike>'
    "<proposal><name>proposal-1</name><authentication-method>pre-shared-keys"
    "</authentication-method><dh-group>group2</dh-group><authentication-algorithm>sha1"
    "</authentication-algorithm><encryption-algorithm>3des-cbc</encryption-algorithm></proposal>"
    "<proposal><name>proposal-2</name><authentication-method>pre-shared-keys"
    "</authentication-method><dh-group>group14</dh-group><authentication-algorithm>sha-256"
    "</authentication-algorithm><encryption-algorithm>aes-128-cbc</encryption-algorithm>"
    "<lifetime-seconds>3600</lifetime-seconds></proposal>"
    f"<policy><name>10.1.1.1</name><pre-shared-key><ascii-text>{SEED_PSK}</ascii-text>"
    "</pre-shared-key><proposals>proposal-1</proposals><proposals>proposal-2</proposals>"
    "</policy>"
    "<policy><name>2001:db8::1</name><mode>aggressive</mode><pre-shared-key><hexadecimal>"
    "0a0b0c0d</hexadecimal></pre-shared-key><proposals>proposal-2</proposals></policy>"
    "</ike></security>"
)
DEFAULT_OPERATIONS = ("merge", "replace", "none", None)
TEST_OPTIONS = ("test-then-set", "set", "test-only", None)
ERROR_OPTIONS = ("stop-on-error", "continue-on-error", "rollback-on-error", None)


_CAUGHT = InternalErrors("agent")


def _config(body: str) -> etree._Element:
    return etree.fromstring(f'<config xmlns="{NC}">{body}</config>')


class _World:
    """The datastore (on a temporary state directory), its operations and the seed."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="fuzz-intake-"))
        atexit.register(shutil.rmtree, self.directory, True)
        self.schema = Schema.load()
        self.datastore = Datastore(self.schema, self.directory / "state", history=2)
        self.dispatcher = Dispatcher()
        operations = ConfigOperations(self.datastore, LockTable(), now=lambda: 0.0)
        self.dispatcher.register_all(operations.handlers())
        self.datastore.edit_config(_config(SEED))
        self.datastore.commit()
        self.seed_running = self.running()

    def running(self) -> bytes:
        return etree.tostring(self.datastore.snapshot().data)

    def candidate(self) -> bytes:
        return etree.tostring(self.datastore.get_config("candidate"))

    def restore(self) -> None:
        """Back to the seed, after a commit changed running."""
        self.datastore.copy_config(_config(SEED), "candidate")
        self.datastore.commit()
        assert self.running() == self.seed_running


_world: _World | None = None


def world() -> _World:
    global _world
    if _world is None:
        _world = _World()
    return _world


def _run(coroutine: Coroutine[Any, Any, Sequence[etree._Element] | NetconfError]) -> (
    Sequence[etree._Element] | NetconfError
):
    """Run a handler that never waits (the configuration handlers do not) without a loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise AssertionError("a configuration handler suspended")


def _option(name: str, value: str | None) -> str:
    return "" if value is None else f"<{name}>{value}</{name}>"


PROPOSAL_NAMES = ("proposal-1", "proposal-2")
INSERTS = ("first", "last", "before", "after")
ENTRY_OPERATIONS = ("merge", "create", "replace", "delete", "remove")


def _ordered_edit(draw: Draw, default_none: bool
                  ) -> tuple[str, tuple[str, str, frozenset[str]] | None]:
    """Structured: entries of a policy's ``proposals`` leaf-list (ordered-by user), each with
    an operation, ``yang:insert`` and ``yang:value`` drawn from the few that mean something
    here, then the rest of the input as raw XML inside the policy (a fault there makes the
    datastore undo what went before it)."""
    policy = draw.choice(("10.1.1.1", "2001:db8::1", "192.0.2.9"))
    entries = []
    kept: set[str] = set()
    for _ in range(1 + draw.below(3)):
        shape = draw.byte()
        name = PROPOSAL_NAMES[shape & 1] if shape & 2 == 0 else escape(draw.sized().decode(
            "utf-8", "replace"))
        attributes = ""
        if shape & 0x0C:
            where = INSERTS[(shape >> 2 & 3) - 1 if shape & 0x10 == 0 else 3]
            attributes += f' yang:insert="{where}"'
            if where in ("before", "after"):
                reference = PROPOSAL_NAMES[shape >> 5 & 1]
                attributes += f" yang:value={quoteattr(reference)}"
        operation = ENTRY_OPERATIONS[draw.below(5)] if shape & 0x40 else None
        if operation is not None:
            attributes += f' nc:operation="{operation}"'
        if operation in ("delete", "remove"):
            kept.discard(name)
        elif name in PROPOSAL_NAMES and (operation is not None or not default_none):
            kept.add(name)  # (default-operation none: no operation, RFC 6241 7.2)
        entries.append(f"<proposals{attributes}>{name}</proposals>")
    rest = draw.rest().decode("utf-8", "replace")
    body = (f'<security xmlns="{IKE_NS}"><ike><policy><name>{policy}</name>'
            f'{"".join(entries)}{rest}</policy></ike></security>')
    # What an accepted edit must show (when nothing else was in it): these entries.
    return body, None if rest else (policy, body, frozenset(kept))


Expected = tuple[str, str, frozenset[str]] | None  # (policy, edit, proposals it must hold)


def _request(draw: Draw) -> tuple[int, str | None, str | None, bool, bytes, Expected]:
    """(operation, test-option, error-option, commit after it, the <rpc> document, what an
    ordered edit must leave in the candidate)."""
    operation = draw.below(7)
    options = draw.byte()
    commit = options & 0x80 != 0
    expected: Expected = None
    if operation == 6:
        operation, (body, expected) = 0, _ordered_edit(draw, options & 3 == 2)
    else:
        body = draw.rest().decode("utf-8", "replace")
    test_option = TEST_OPTIONS[options >> 2 & 3]
    error_option = ERROR_OPTIONS[options >> 4 & 3]
    if operation == 0:
        inner = (
            "<edit-config><target><candidate/></target>"
            + _option("default-operation", DEFAULT_OPERATIONS[options & 3])
            + _option("test-option", test_option)
            + _option("error-option", error_option)
            + f"<config>{body}</config></edit-config>"
        )
    elif operation == 1:
        inner = (
            "<copy-config><target><candidate/></target>"
            f"<source><config>{body}</config></source></copy-config>"
        )
    elif operation == 2:
        inner = f"<validate><source><config>{body}</config></source></validate>"
    elif operation in (3, 4):
        source = "candidate" if options & 1 else "running"
        if operation == 3:
            filter_ = f'<filter type="subtree">{body}</filter>'
        else:
            filter_ = f'<filter type="xpath" xmlns:ike="{IKE_NS}" select={quoteattr(body)}/>'
        inner = f"<get-config><source><{source}/></source>{filter_}</get-config>"
    else:
        return operation, None, None, False, body.encode(), None
    document = (f'<rpc xmlns="{NC}" xmlns:ike="{IKE_NS}" xmlns:nc="{NC}" xmlns:yang="{YANG}" '
                f'message-id="101">{inner}</rpc>')
    return operation, test_option, error_option, commit, document.encode(), expected


def _answer(w: _World, session: NetconfSession, document: bytes) -> bytes | None:
    """The reply the agent sends to ``document``, None when the session ended instead."""
    events = session.receive_data(document + b"]]>]]>")
    if not events or not isinstance(events[0], RpcReceived):
        return None
    event = events[0]
    if event.error is not None:
        content: Sequence[etree._Element] | NetconfError = event.error
    else:
        assert event.operation is not None
        content = _run(w.dispatcher.dispatch(RpcContext(1, "fuzz"), event.operation))
    session.send_reply(event, content)
    reply = session.data_to_send()
    assert reply.endswith(b"]]>]]>")
    check_reply(reply[: -len(b"]]>]]>")], event.attributes)
    return reply


def one_input(data: bytes) -> None:
    w = world()
    operation, test_option, error_option, commit, document, expected = _request(Draw(data))
    session = NetconfSession(1, CAPABILITIES)
    session.start()
    session.receive_data(hello(CAPABILITIES[0]) + b"]]>]]>")
    session.data_to_send()
    before = w.candidate()
    _CAUGHT.records.clear()
    try:
        reply = _answer(w, session, document)
        if reply is None:
            return
        failed = is_error(etree.fromstring(reply[: -len(b"]]>]]>")]))
        if failed and SEED_PSK.encode() not in document:  # (an error may quote the request)
            assert SEED_PSK.encode() not in reply, "the running pre-shared key in an rpc-error"
        assert w.running() == w.seed_running, "running changed without a commit"
        after = w.candidate()
        if failed and error_option != "continue-on-error":
            assert after == before, "a refused request changed the candidate"
        if operation == 0 and test_option == "test-only":
            assert after == before, "test-only changed the candidate"
        if failed or operation not in (0, 1):
            return
        assert w.candidate() == after, "the candidate reads differently twice"
        if expected is not None and test_option != "test-only":
            policy, _, names = expected
            held = {entry.text for found in etree.fromstring(after).iter(f"{{{IKE_NS}}}policy")
                    if found.findtext(f"{{{IKE_NS}}}name") == policy
                    for entry in found.iter(f"{{{IKE_NS}}}proposals")}
            assert names <= held, f"an edited entry is lost: {sorted(names - held)}"
        if commit:
            try:
                w.datastore.commit()
            except NetconfError:
                assert w.running() == w.seed_running, "a refused commit changed running"
            else:
                assert w.running() == after, "running is not the candidate committed"
                w.restore()
    finally:
        w.datastore.discard_changes()
    _CAUGHT.check()
    assert w.candidate() == w.seed_running


def _seeds() -> tuple[bytes, ...]:
    policy = (
        f'<security xmlns="{IKE_NS}"><ike><policy><name>192.0.2.7</name><pre-shared-key>'
        "<ascii-text>k</ascii-text></pre-shared-key><proposals>proposal-1</proposals>"
        "</policy></ike></security>"
    )
    delete = (
        f'<security xmlns="{IKE_NS}" xmlns:nc="{NC}"><ike><proposal nc:operation="delete">'
        "<name>proposal-2</name></proposal></ike></security>"
    )
    insert = (
        f'<security xmlns="{IKE_NS}" xmlns:nc="{NC}" xmlns:yang="urn:ietf:params:xml:ns:yang:1">'
        '<ike><policy><name>10.1.1.1</name><proposals yang:insert="first">proposal-2'
        "</proposals></policy></ike></security>"
    )
    bad_key = (
        f'<security xmlns="{IKE_NS}"><ike><policy><name>not-an-address</name>'
        "<pre-shared-key><ascii-text>k</ascii-text></pre-shared-key></policy></ike></security>"
    )
    subtree = (
        f'<security xmlns="{IKE_NS}"><ike><policy><name>10.1.1.1</name></policy></ike>'
        "</security>"
    )
    bodies = [
        (0, 0x00, policy), (0, 0x80, policy), (0, 0x08, delete), (0, 0x88, delete),
        (0, 0x01, SEED), (0, 0x20, bad_key), (0, 0x10, bad_key), (0, 0x00, insert),
        (0, 0x02, delete), (1, 0x80, SEED), (1, 0x00, policy), (2, 0x00, bad_key),
        (3, 0x00, subtree), (3, 0x01, f'<security xmlns="{IKE_NS}"/>'),
        (4, 0x00, "/ike:security/ike:ike/ike:policy[ike:name='10.1.1.1']"),
        (4, 0x01, "//ike:proposal/ike:name"),
        (5, 0x00, f'<rpc xmlns="{NC}" message-id="5"><get-config><source><running/></source>'
                  "</get-config></rpc>"),
    ]
    seeds = [bytes([op, options]) + body.encode() for op, options, body in bodies]
    # Ordered edits (6) that move nothing: proposal-2 "last" where it is last; proposal-1
    # "first" where it is first, then a fault that makes the edit undo it.
    seeds += [bytes([6, 0x00, 0, 0, 0x09]), bytes([6, 0x80, 0, 0, 0x09]),
              bytes([6, 0x00, 0, 1, 0x00, 0x04]) + b"<bogus/>"]
    return tuple(seeds)


def _dictionary() -> tuple[bytes, ...]:
    """Tokens for libFuzzer's -dict: every element name of the model's configuration (open and
    close tags), its enumerations, the edit attributes and their values."""
    names: set[str] = set()
    pending = list(world().schema.data_roots.values())
    while pending:
        node = pending.pop()
        if node.config:
            names.add(node.name)
            pending.extend(node.children.values())
    enums: set[str] = set()
    for path in Path(__file__).parents[2].joinpath("yang").glob("*.yang"):
        enums.update(re.findall(r"\benum\s+\"?([A-Za-z0-9_.-]+)", path.read_text()))
    tokens = [f"<{name}>" for name in names] + [f"</{name}>" for name in names]
    tokens += sorted(enums)
    tokens += [f'<security xmlns="{IKE_NS}">', 'xmlns:nc="' + NC + '"',
               'xmlns:yang="' + YANG + '"']
    tokens += [f' nc:operation="{op}"' for op in ("merge", "replace", "create", "delete",
                                                  "remove")]
    tokens += [f' yang:insert="{where}"' for where in ("first", "last", "before", "after")]
    tokens += [' yang:key="[name=\'', ' yang:value="', "']\""]
    return tuple(sorted(t.encode() for t in set(tokens)))


SEEDS = _seeds()
DICTIONARY = _dictionary()
