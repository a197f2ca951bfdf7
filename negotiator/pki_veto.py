"""The certificate half of the negotiator's commit veto (``prepare``).

Each fault is its own ``<rpc-error>`` (error-tag ``invalid-value``, an app-tag naming the
fault, the path of the leaf to change); a message names the entry and what is wrong, never
the text of a private key.

- :func:`pki_errors`: every ``local-certificate`` and ``ca-certificate`` entry: parses, the
  key matches and is of a supported type (RSA, ECDSA P-256 / P-384; DSA refused), every
  certificate is inside its validity period now, a CA certificate is a CA.
- :func:`policy_errors`: per certificate policy, every proposal's method fits the local
  certificate's key (``rsa-signatures`` an RSA key, ``ecdsa-signatures-256`` a P-256 key,
  ``ecdsa-signatures-384`` a P-384 key); at least one trust anchor to verify the peer with; a
  DN identity parses; a configured local identity is one the local certificate confirms
  (else the peer would refuse it).
"""

from __future__ import annotations

from collections.abc import Iterable

from lxml import etree

from agent.datastore.subscriber import ConfigSnapshot
from agent.errors import ErrorTag, ErrorType, RpcError
from negotiator.certificates import confirms
from negotiator.compile import ike_tag, pki_element
from negotiator.config import SIGNATURE_KEYS, NegotiatorConfig, Policy
from negotiator.dn import looks_like_dn, parse_dn
from negotiator.engine.identity import identity_payload
from negotiator.model import IKE_NS
from negotiator.pki import LocalCredential, PkiFault, PkiReader, validity_fault

_NAMESPACES = (("ike", IKE_NS),)
_PKI_PATH = "/ike:security/ike:pki"
_POLICY_PATH = "/ike:security/ike:ike/ike:policy[ike:name='{}']"



def _error(message: str, app_tag: str, path: str) -> RpcError:
    return RpcError(ErrorType.APPLICATION, ErrorTag.INVALID_VALUE, message, app_tag=app_tag,
                    path=path, path_namespaces=_NAMESPACES)


def _quoted(name: str) -> str:
    return name.replace("'", "")  # a key in an instance-identifier predicate


def pki_errors(snapshot: ConfigSnapshot, now: float, reader: PkiReader) -> list[RpcError]:
    """One rpc-error per fault of every pki entry."""
    pki = pki_element(snapshot)
    if pki is None:
        return []
    errors: list[RpcError] = []
    lists = (("local-certificate", "local-certificate"), ("ca-certificate", "CA certificate"))
    for list_name, what in lists:
        for entry in pki.iterfind(ike_tag(list_name)):
            name = _leaf(entry, "name")
            cert = _leaf(entry, "certificate")
            if name is None or cert is None:
                continue  # mandatory leaves: the datastore reports them
            faults: list[PkiFault]
            if list_name == "local-certificate":
                key = _leaf(entry, "private-key")
                if key is None:
                    continue
                result = reader.local(name, cert, key)
                faults = (result if isinstance(result, list)
                          else _validity(result.chain, now, what))
            else:
                anchor = reader.anchor(name, cert)
                faults = anchor if isinstance(anchor, list) else _validity(
                    (anchor.certificate,), now, what)
            base = f"{_PKI_PATH}/ike:{list_name}[ike:name='{_quoted(name)}']"
            errors.extend(_error(f"{what} {name!r}: {f.message}", f.app_tag,
                                 f"{base}/ike:{f.leaf}") for f in faults)
    return errors


def _validity(chain: Iterable[object], now: float, what: str) -> list[PkiFault]:
    faults = []
    for position, certificate in enumerate(chain):
        label = "the certificate" if position == 0 else f"chain certificate {position + 1}"
        fault = validity_fault(certificate, now, label)  # type: ignore[arg-type]
        if fault is not None:
            faults.append(fault)
    return faults


def _leaf(entry: etree._Element, name: str) -> str | None:
    node = entry.find(ike_tag(name))
    return None if node is None or node.text is None else node.text.strip()


def policy_errors(config: NegotiatorConfig, peers: Iterable[str] | None) -> list[RpcError]:
    """The policy rules above, for the policies named in ``peers`` (None: every policy)."""
    if peers is None:
        policies: Iterable[Policy] = config.policies.values()
    else:
        found = (config.policy_for(peer) for peer in peers)
        policies = [p for p in found if p is not None]
    errors: list[RpcError] = []
    for policy in policies:
        path = _POLICY_PATH.format(policy.peer)
        for leaf in ("local-identity", "remote-identity"):
            identity = getattr(policy, leaf.replace("-", "_"))
            if identity is not None and looks_like_dn(identity):
                try:
                    parse_dn(identity)
                except ValueError as exc:
                    errors.append(_error(
                        f"policy {policy.peer}: {leaf} is not a distinguished name in the "
                        f"form 'C=CH, O=Example, CN=gw.example': {exc}",
                        "invalid-identity", f"{path}/ike:{leaf}"))
        credential = config.credential_of(policy)
        if credential is not None:
            errors.extend(_credential_errors(policy, credential, path))
            if not config.anchors_of(policy):
                errors.append(_error(
                    f"policy {policy.peer}: no usable ca-certificate to verify the peer's "
                    "certificate with (configure one, or name one in trusted-ca)",
                    "no-trusted-ca", f"{path}/ike:certificate"))
    return errors


def _credential_errors(policy: Policy, credential: LocalCredential, path: str
                       ) -> list[RpcError]:
    errors = []
    for proposal in policy.proposals:
        needed = SIGNATURE_KEYS.get(proposal.auth_method)
        if needed is not None and needed is not credential.kind:
            errors.append(_error(
                f"policy {policy.peer}: proposal {proposal.name} "
                f"({proposal.auth_method.value}) needs an {needed.value} key; local-certificate "
                f"{credential.name!r} has an {credential.kind.value} key",
                "certificate-key-mismatch", f"{path}/ike:certificate/ike:local-certificate"))
    identity = policy.local_identity
    if (identity is not None and not (looks_like_dn(identity) and _unparsable(identity))
            and not confirms(credential.certificate, identity_payload(identity))):
        errors.append(_error(
            f"policy {policy.peer}: local-identity {identity!r} is not confirmed by "
            f"local-certificate {credential.name!r} (neither its subject nor one of its "
            "subjectAltNames): the peer would refuse it",
            "identity-not-in-certificate", f"{path}/ike:local-identity"))
    return errors


def _unparsable(dn: str) -> bool:
    try:
        parse_dn(dn)
    except ValueError:
        return True
    return False
