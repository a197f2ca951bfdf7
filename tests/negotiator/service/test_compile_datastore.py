"""ConfigCompiler driven by a REAL Datastore: random edits, commits, discards, rollbacks and
vetoed commits; after every commit the compiler's result (fed with the snapshot's
``changes``) must equal compile_config of the committed snapshot, order included."""

from __future__ import annotations

import pathlib
import random
from typing import Any

import pytest
from lxml import etree

from agent.datastore.schema import Schema
from agent.datastore.store import Datastore
from agent.datastore.subscriber import ConfigSnapshot
from agent.errors import ErrorTag, ErrorType, NetconfError, RpcError
from negotiator.compile import ConfigCompiler, compile_config
from negotiator.config import NegotiatorConfig
from negotiator.model import IKE_NS
from negotiator.service import NegotiatorService
from tests.xpath_results import xpath_texts

NC_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
PROPOSALS = ("a", "b", "c")


def _proposal(name: str, rng: random.Random) -> str:
    return (f"<proposal><name>{name}</name><authentication-method>pre-shared-keys"
            f"</authentication-method><dh-group>{rng.choice(('group14', 'group19'))}"
            f"</dh-group><authentication-algorithm>{rng.choice(('sha1', 'sha-256'))}"
            "</authentication-algorithm><encryption-algorithm>aes-128-cbc"
            "</encryption-algorithm></proposal>")


def _policy(name: str, rng: random.Random, operation: str = "") -> str:
    refs = "".join(f"<proposals>{p}</proposals>"
                   for p in rng.sample(PROPOSALS, rng.randint(1, 3)))
    extra = rng.choice(("", "<description>d</description>", "<mode>aggressive</mode>"))
    return (f"<policy{operation}><name>{name}</name><pre-shared-key><ascii-text>"
            f"k{rng.random()}</ascii-text></pre-shared-key>{refs}{extra}</policy>")


def _config(ike: str) -> etree._Element:
    return etree.fromstring(f'<config xmlns="{NC_NS}" xmlns:nc="{NC_NS}">'
                            f'<security xmlns="{IKE_NS}"><ike>{ike}</ike></security></config>')


class CompilingSubscriber:
    """Compiles in prepare like the negotiator's subscriber; checks the result on commit."""

    def __init__(self) -> None:
        self.compiler = ConfigCompiler()
        self.prepared: dict[int, NegotiatorConfig] = {}
        self.checked = 0
        self.patched = 0  # compiles that took the named-changes path
        patch = self.compiler._patched

        def counting(snapshot: ConfigSnapshot, *args: Any) -> object:
            result = patch(snapshot, *args)
            self.patched += result is not None
            return result
        self.compiler._patched = counting  # type: ignore[method-assign,assignment]

    def prepare(self, snapshot: ConfigSnapshot) -> None:
        self.prepared[snapshot.generation] = self.compiler.compile(snapshot)

    def commit(self, snapshot: ConfigSnapshot) -> None:
        incremental = self.prepared.pop(snapshot.generation)
        full = compile_config(snapshot)
        assert incremental == full
        assert list(incremental.policies.items()) == list(full.policies.items())
        self.checked += 1

    def abort(self, snapshot: ConfigSnapshot) -> None:
        self.prepared.pop(snapshot.generation, None)


class Veto:
    def __init__(self) -> None:
        self.armed = False
        self.vetoed = 0

    def prepare(self, snapshot: ConfigSnapshot) -> None:
        if self.armed:
            self.armed = False
            self.vetoed += 1
            raise NetconfError(RpcError(ErrorType.APPLICATION, ErrorTag.OPERATION_FAILED, "no"))

    def commit(self, snapshot: ConfigSnapshot) -> None:
        pass

    def abort(self, snapshot: ConfigSnapshot) -> None:
        pass


def _random_edit(datastore: Datastore, rng: random.Random, names: list[str]) -> None:
    action = rng.randrange(10)
    name = rng.choice(names)
    if action <= 2:  # create or merge (new ones go after the others)
        ike = _policy(f"192.0.2.{rng.randint(1, 80)}", rng)
    elif action == 3:
        ike = _policy(name, rng, operation=' nc:operation="replace"')
    elif action == 4:
        ike = f"<policy><name>{name}</name><description>x{rng.random()}</description></policy>"
    elif action <= 6:
        ike = f'<policy nc:operation="remove"><name>{name}</name></policy>'
    elif action == 7:  # delete and create again in the same candidate
        datastore.edit_config(_config(f'<policy nc:operation="remove"><name>{name}</name>'
                                      "</policy>"))
        ike = _policy(name, rng)
    elif action == 8:
        ike = _proposal(rng.choice(PROPOSALS), rng)
    else:
        ike = "".join(_policy(f"192.0.2.{rng.randint(1, 80)}", rng) for _ in range(3))
    datastore.edit_config(_config(ike))


def _names(datastore: Datastore) -> list[str]:
    tree = datastore.get_config("candidate")
    return xpath_texts(tree, "//i:policy/i:name/text()", {"i": IKE_NS})


@pytest.mark.parametrize("seed", [1, 2])
def test_compiler_fed_by_a_real_datastore_equals_full_compile(
    tmp_path: pathlib.Path, seed: int
) -> None:
    rng = random.Random(seed)
    datastore = Datastore(Schema.load(), tmp_path)
    subscriber, veto = CompilingSubscriber(), Veto()
    datastore.add_subscriber(subscriber)
    datastore.add_subscriber(veto)
    ike = "".join(_proposal(p, rng) for p in PROPOSALS)
    datastore.edit_config(_config(ike + "".join(_policy(f"192.0.2.{i}", rng)
                                                for i in range(1, 30))))
    datastore.commit()
    for _ in range(150):
        for _ in range(rng.choice((1, 1, 1, 2, 4))):
            names = _names(datastore)
            if names:
                _random_edit(datastore, rng, names)
        step = rng.randrange(12)
        if step == 0:
            datastore.discard_changes()
        elif step == 1 and datastore.generation > 3:
            datastore.rollback(rng.randint(1, 3))
        elif step == 2:
            veto.armed = True
            with pytest.raises(NetconfError):
                datastore.commit()
            continue  # the candidate stays: committed next round
        datastore.commit()
    assert subscriber.checked >= 120 and veto.vetoed > 5
    # most commits took the named path; the rest (proposals, rollback, after a veto) did not
    assert subscriber.checked // 2 < subscriber.patched < subscriber.checked


def test_veto_is_skipped_only_on_top_of_a_checked_configuration(tmp_path: pathlib.Path) -> None:
    rng = random.Random(7)
    datastore = Datastore(Schema.load(), tmp_path)
    service = NegotiatorService(NegotiatorConfig(generation=0))
    subscriber = service.commit_subscriber()
    assert subscriber is not None
    unsupported = _proposal("a", rng).replace(
        "<encryption-algorithm>aes-128-cbc", "<encryption-algorithm>des-cbc")
    # stored before the negotiator ran (no subscriber): never checked
    datastore.edit_config(_config(unsupported + _proposal("b", rng) + _proposal("c", rng)
                                  + _policy("192.0.2.1", rng)))
    datastore.commit()
    datastore.add_subscriber(subscriber)
    datastore.edit_config(_config(_policy("192.0.2.2", rng)))
    with pytest.raises(NetconfError):  # running was never checked: checked now, vetoed
        datastore.commit()
    datastore.edit_config(_config(_proposal("a", rng)))
    datastore.commit()  # fixed: checked and committed
    for peer in ("192.0.2.3", "192.0.2.4"):  # policies only: no check needed, none made
        datastore.edit_config(_config(_policy(peer, rng)))
        datastore.commit()
        assert service.config.policy_for(peer) is not None
    datastore.edit_config(_config(unsupported))
    datastore.edit_config(_config(_policy("192.0.2.5", rng)))
    for _ in range(2):  # the proposal change stays in the candidate: vetoed every time
        with pytest.raises(NetconfError):
            datastore.commit()
    assert service.config.policy_for("192.0.2.5") is None
