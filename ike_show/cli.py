"""``ike-agent show ...`` (plugged into the ``ike-agent`` command line through the
``ike_agent.commands`` entry point): Junos' operational commands as a NETCONF client.

  show security ike security-associations [PEER]
  show security ike statistics
  show commit-history                  (Junos: show system commit)
  show configuration [| compare [rollback N]]
                                       (compare: the candidate against running or commit N,
                                        as Junos; the agent's compare-configuration RPC)
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import pathlib
import sys
from collections.abc import Awaitable, Callable

from lxml import etree

from ike_show.client import ClientError, NetconfClient, Target
from ike_show.render import (
    IKE_NS,
    SYSTEM_NS,
    commit_history_text,
    configuration_text,
    sa_table,
    statistics_table,
    to_json,
    to_xml,
)

DEFAULT_PORT = 8830
SA_FILTER = f'<security xmlns="{IKE_NS}"><ike><security-associations/></ike></security>'
STATISTICS_FILTER = f'<security xmlns="{IKE_NS}"><ike><statistics/></ike></security>'
HISTORY_FILTER = f'<commit-history xmlns="{SYSTEM_NS}"/>'

Command = Callable[[NetconfClient, argparse.Namespace], Awaitable[str]]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``show`` to the ``ike-agent`` subcommands."""
    show = commands.add_parser("show", help="show state and configuration (a NETCONF client)")
    show.set_defaults(main=main)
    # The options go on each command so that they may follow it, as operators type them.
    common = argparse.ArgumentParser(add_help=False)
    connection = common.add_argument_group("connection")
    connection.add_argument("--host", default="127.0.0.1", help="agent address (127.0.0.1)")
    connection.add_argument("--port", type=int, default=DEFAULT_PORT,
                            help=f"NETCONF over SSH port ({DEFAULT_PORT})")
    connection.add_argument("--user", default=getpass.getuser(),
                            help="user name (default: yours)")
    connection.add_argument("--identity", type=pathlib.Path, metavar="FILE",
                            help="SSH private key (default: your ~/.ssh keys); without a key "
                            "that works, the password comes from IKE_AGENT_PASSWORD or a "
                            "prompt")
    connection.add_argument("--host-key-fingerprint", metavar="SHA256:...",
                            help="the agent's host key fingerprint, as it logs it at start "
                            "(default: check ~/.ssh/known_hosts)")
    connection.add_argument("--known-hosts", type=pathlib.Path, metavar="FILE",
                            help="known_hosts file to check the agent's host key against")
    common.add_argument("--format", choices=["text", "json", "xml"], default="text",
                        help="text: tables as Junos prints them (default); json, xml: for "
                        "scripts")
    what = show.add_subparsers(dest="show_command", required=True, metavar="WHAT")

    security = what.add_parser("security", help="security state")
    ike = security.add_subparsers(dest="security_command", required=True).add_parser(
        "ike", help="IKE")
    ike_what = ike.add_subparsers(dest="ike_command", required=True)
    sas = ike_what.add_parser("security-associations", parents=[common], help="IKE SAs")
    sas.add_argument("peer", nargs="?", metavar="PEER", help="only the SAs with this peer")
    sas.set_defaults(show=_security_associations)
    statistics = ike_what.add_parser("statistics", parents=[common],
                                     help="negotiation counters per peer")
    statistics.set_defaults(show=_statistics)

    history = what.add_parser("commit-history", parents=[common],
                              help="the last commits: when, by whom, from where, why")
    history.set_defaults(show=_commit_history)

    config = what.add_parser("configuration", parents=[common], help="the running configuration; "
                             "'| compare [rollback N]': the candidate's changes to it (or to "
                             "commit N's configuration)")
    config.add_argument("pipe", nargs="*", metavar="| compare [rollback N]")
    config.set_defaults(show=_configuration)


async def _security_associations(client: NetconfClient, args: argparse.Namespace) -> str:
    data = await client.get(SA_FILTER)
    if args.peer is not None:
        for sa in list(data.iter(f"{{{IKE_NS}}}security-association")):
            if sa.findtext(f"{{{IKE_NS}}}remote-address") != args.peer:
                parent = sa.getparent()
                assert parent is not None
                parent.remove(sa)
    return _formatted(data, args, lambda: sa_table(data, args.peer))


def _formatted(data: etree._Element, args: argparse.Namespace, text: Callable[[], str]) -> str:
    """``data`` as --format asks: JSON, XML, or the command's own text rendering."""
    if args.format == "json":
        return to_json(data)
    if args.format == "xml":
        return to_xml(data)
    return text()


async def _statistics(client: NetconfClient, args: argparse.Namespace) -> str:
    data = await client.get(STATISTICS_FILTER)
    return _formatted(data, args, lambda: statistics_table(data))


async def _commit_history(client: NetconfClient, args: argparse.Namespace) -> str:
    data = await client.get(HISTORY_FILTER)
    return _formatted(data, args, lambda: commit_history_text(data))


async def _configuration(client: NetconfClient, args: argparse.Namespace) -> str:
    words = " ".join(args.pipe).replace("|", " ").split()
    if not words:
        running = await client.get_config("running")
        return _formatted(running, args, lambda: configuration_text(running))
    rollback = _compare_pipe(words)
    if args.format != "text":
        raise ClientError("| compare prints text only")
    # The agent compares (module ike-agent-system): it sees the secrets this client never
    # reads, so a changed pre-shared key shows as a changed ## SECRET-DATA line.
    operation = etree.Element(f"{{{SYSTEM_NS}}}compare-configuration")
    if rollback is not None:
        etree.SubElement(operation, f"{{{SYSTEM_NS}}}rollback").text = rollback
    reply = await client.rpc(operation)
    return reply.findtext(f"{{{SYSTEM_NS}}}difference") or ""


def _compare_pipe(words: list[str]) -> str | None:
    """``compare`` or ``compare rollback N`` (Junos); the N, or None for running."""
    if words == ["compare"]:
        return None
    if len(words) == 3 and words[:2] == ["compare", "rollback"] and words[2].isdigit():
        return words[2]
    raise ClientError(f"unknown pipe {' '.join(words)!r}: only '| compare [rollback N]'")


async def _run(args: argparse.Namespace) -> str:
    target = Target(args.host, args.port, args.user, args.identity,
                    args.host_key_fingerprint, args.known_hosts)
    command: Command = args.show
    async with await NetconfClient.connect(target, os.environ) as client:
        return await command(client, args)


def main(args: argparse.Namespace) -> int:
    try:
        output = asyncio.run(_run(args))
    except ClientError as exc:
        print(f"ike-agent show: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(output)
    return 0
