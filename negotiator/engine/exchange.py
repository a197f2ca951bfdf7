"""What every phase-1 exchange module provides to the engine (strongSwan task style)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from negotiator.codec.header import IsakmpHeader
from negotiator.config import Policy, Proposal
from negotiator.engine.phase1 import Tools
from negotiator.engine.state import IkeSa


@dataclass(frozen=True, slots=True)
class Step:
    """The outcome of processing one message: what to send, and what follows."""

    reply: bytes | None = None
    awaits_reply: bool = False  # the reply is a request: retransmit it until answered
    established: bool = False


class Exchange(Protocol):
    def initiator_offer(self, policy: Policy) -> tuple[Proposal, ...]: ...

    def initiator_start(self, sa: IkeSa, tools: Tools) -> bytes: ...

    def initiator_process(
        self, sa: IkeSa, header: IsakmpHeader, data: bytes, tools: Tools
    ) -> Step: ...

    def responder_start(
        self, sa: IkeSa, header: IsakmpHeader, data: bytes, tools: Tools
    ) -> Step: ...

    def responder_process(
        self, sa: IkeSa, header: IsakmpHeader, data: bytes, tools: Tools
    ) -> Step: ...
