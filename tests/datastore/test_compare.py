"""Junos ``show | compare`` rendering: headers, blocks, quoting, leaf-lists, secrets."""

from __future__ import annotations

from agent.datastore.compare import compare
from agent.datastore.schema import Schema

from .builders import SEED, SEED_IKE, config, security


def lines(schema: Schema, old: str, new: str) -> list[str]:
    return compare(config(old), config(new), schema.roots).splitlines()


def test_no_difference_is_empty(schema: Schema) -> None:
    assert compare(config(SEED), config(SEED), schema.roots) == ""


def test_changed_values_are_quoted_and_secrets_hidden(schema: Schema) -> None:
    hexa = "<pre-shared-key><hexadecimal>6b6579</hexadecimal></pre-shared-key>"
    new = SEED_IKE.replace(
        "<name>10.1.1.1</name><pre-shared-key><ascii-text>s3cret</ascii-text></pre-shared-key>",
        f'<name>10.1.1.1</name><description>say "hi" there</description>{hexa}')
    assert new != SEED_IKE
    out = lines(schema, SEED, security(new))
    assert out == [
        "[edit security ike policy 10.1.1.1]",
        '+    description "say \\"hi\\" there";',
        "[edit security ike policy 10.1.1.1 pre-shared-key]",
        '-    ascii-text "****"; ## SECRET-DATA',
        '+    hexadecimal "****"; ## SECRET-DATA',
    ]
    assert not any("s3cret" in line or "6b6579" in line for line in out)


def test_a_whole_configuration_added(schema: Schema) -> None:
    out = lines(schema, "", SEED)
    assert out[:3] == ["[edit]", "+    security {", "+        ike {"]
    assert out[-1] == "+    }"
    assert '+                    ascii-text "****"; ## SECRET-DATA' in out
