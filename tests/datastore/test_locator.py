"""The policy locator: positions instead of proxies, checked on every lookup."""

from __future__ import annotations

import pathlib

from lxml import etree

from agent.datastore.locator import IKE_PATH, NAME_TAG, PolicyLocator, policy_positions
from agent.datastore.store import Datastore

from .builders import config, policy, security


def seed_tree() -> etree._Element:
    return config(security(policy("10.0.0.1") + policy("10.0.0.2") + policy("10.0.0.3")))


def test_lookups_follow_deletes_and_appends() -> None:
    data = seed_tree()
    ike = data.find(IKE_PATH)
    locator = PolicyLocator(ike, policy_positions(ike))
    entry = locator[("10.0.0.1",)]
    assert ike is not None
    ike.remove(entry)
    del locator[("10.0.0.1",)]
    new = etree.SubElement(ike, entry.tag)
    etree.SubElement(new, NAME_TAG).text = "10.0.0.1"
    locator[("10.0.0.1",)] = new
    assert [k[0] for k in locator] == ["10.0.0.2", "10.0.0.3", "10.0.0.1"]
    assert locator[("10.0.0.3",)].findtext(NAME_TAG) == "10.0.0.3"
    assert locator.get(("10.9.9.9",)) is None
    assert locator.committed_positions() == {"10.0.0.2": 0, "10.0.0.3": 1, "10.0.0.1": 2}
    assert not locator.stale


def test_wrong_positions_are_detected_and_answered_correctly() -> None:
    data = seed_tree()
    ike = data.find(IKE_PATH)
    locator = PolicyLocator(ike, {"10.0.0.1": 2, "10.0.0.2": 0, "10.0.0.3": 1})
    assert locator[("10.0.0.1",)].findtext(NAME_TAG) == "10.0.0.1"
    assert locator.stale


def test_a_stale_locator_makes_the_commit_write_in_full(
    seeded: Datastore, tmp_path: pathlib.Path,
) -> None:
    seeded._running_positions = {"10.1.1.1": 1, "10.1.1.2": 0}  # wrong on purpose
    seeded.edit_config(config(security(policy("10.1.1.1", proposals=("proposal-2",)))))
    assert seeded._locator is not None and seeded._locator.stale
    seeded.commit()
    expected = (b'<running xmlns="urn:ike-agent:datastore:1" generation="2">'
                + etree.tostring(seeded.snapshot().data) + b"</running>\n")
    assert (tmp_path / "state" / "running.xml").read_bytes() == expected
    assert seeded._running_positions == {"10.1.1.1": 0, "10.1.1.2": 1}  # rebuilt
