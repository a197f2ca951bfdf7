"""Command line: ``ike-agent run``, ``ike-agent user add|list|remove`` and ``ike-agent show ...``,
or ``python -m agent``.

State (datastore files, users, SSH host key, initial admin password) lives in ``--state-dir``,
by default ``./state`` relative to the working directory (``make run`` uses the checkout's).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import importlib.metadata
import logging
import pathlib
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agent.auth import AuthError, UserStore, ensure_initial_admin
from agent.extensions import AgentExtension, ExtensionFactory, extension_factories
from agent.log_throttle import DEFAULT_LOG_BURST, LogThrottle
from agent.netconf.framing import DEFAULT_MAX_MESSAGE_SIZE
from agent.netconf.ports import DatastoreLike
from agent.process import ReopenableFileHandler, sd_notify, silence_dependency_warnings

DEFAULT_STATE_DIR = pathlib.Path("state")
DEFAULT_NETCONF_LISTEN = "127.0.0.1:8830"
DEFAULT_MAX_SESSIONS = 64
DEFAULT_IDLE_TIMEOUT = 3600.0  # seconds

log = logging.getLogger("agent")


@dataclass(frozen=True, slots=True)
class RunOptions:
    state_dir: pathlib.Path
    netconf_host: str
    netconf_port: int
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    max_sessions: int = DEFAULT_MAX_SESSIONS
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT  # 0: none
    metrics_listen: tuple[str, int] | None = None
    log_file: ReopenableFileHandler | None = None
    # The parsed command line, for the extensions' own options.
    arguments: argparse.Namespace = dataclasses.field(default_factory=argparse.Namespace)
    factories: tuple[ExtensionFactory, ...] = ()


def parse_host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPV6]:PORT``."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535 or not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def _non_negative_int(text: str) -> int:
    if not text.isdigit() or len(text) > 9:
        raise argparse.ArgumentTypeError(f"expected an integer from 0, got {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 10**9:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"expected seconds (0 or more), got {text!r}")
    return value


def version() -> str:
    try:
        return importlib.metadata.version("ike-agent")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout never installed
        return "unknown"


def _summary() -> str:
    """What the installed package says it is (its metadata), for ``--help``."""
    try:
        return importlib.metadata.metadata("ike-agent")["Summary"]
    except importlib.metadata.PackageNotFoundError:  # run from a checkout never installed
        return "NETCONF/YANG configuration agent"


def _parser(factories: Sequence[ExtensionFactory] | None = None) -> argparse.ArgumentParser:
    """The command line, with the options of ``factories`` (default: the installed
    extensions, :func:`agent.extensions.extension_factories`) added to ``run``."""
    parser = argparse.ArgumentParser(
        prog="ike-agent", description=_summary()
    )
    parser.add_argument("--version", action="version", version=f"ike-agent {version()}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state-dir",
        type=pathlib.Path,
        default=DEFAULT_STATE_DIR,
        help="directory for the datastore, users and host key (default: ./state)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", parents=[common], help="run the agent")
    listen = run.add_argument_group("listening addresses")
    limits = run.add_argument_group("limits")
    logs = run.add_argument_group("logging")
    listen.add_argument(
        "--netconf-listen",
        type=parse_host_port,
        default=parse_host_port(DEFAULT_NETCONF_LISTEN),
        metavar="HOST:PORT",
        help=f"NETCONF over SSH address (default {DEFAULT_NETCONF_LISTEN})",
    )
    listen.add_argument(
        "--metrics-listen",
        type=parse_host_port,
        default=None,
        metavar="HOST:PORT",
        help="serve Prometheus metrics over HTTP at this address (default: off)",
    )
    limits.add_argument(
        "--max-message-size",
        type=int,
        default=DEFAULT_MAX_MESSAGE_SIZE,
        metavar="BYTES",
        help=f"largest NETCONF message accepted (default {DEFAULT_MAX_MESSAGE_SIZE})",
    )
    limits.add_argument(
        "--max-sessions",
        type=positive_int,
        default=DEFAULT_MAX_SESSIONS,
        metavar="N",
        help="most SSH connections, and NETCONF sessions, open at once; more are refused "
        f"(default {DEFAULT_MAX_SESSIONS})",
    )
    limits.add_argument(
        "--idle-timeout",
        type=_seconds,
        default=DEFAULT_IDLE_TIMEOUT,
        metavar="SECONDS",
        help="close a NETCONF session that sends nothing for this long; 0: never "
        f"(default {DEFAULT_IDLE_TIMEOUT:g})",
    )
    logs.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level (default INFO)",
    )
    logs.add_argument(
        "--log-burst",
        type=_non_negative_int,
        default=DEFAULT_LOG_BURST,
        metavar="N",
        help="most log lines per message per second; more are counted and dropped "
        f"(errors always pass); 0: no limit (default {DEFAULT_LOG_BURST})",
    )
    logs.add_argument(
        "--log-file",
        type=pathlib.Path,
        default=None,
        metavar="FILE",
        help="append the log to FILE, reopened on SIGHUP (default: standard error)",
    )
    for factory in extension_factories() if factories is None else factories:
        factory.add_arguments(run)

    # Commands of other packages (``ike-agent show``), plugged in by entry point: each entry
    # is called with the subparsers and sets a ``main(args) -> exit code`` default.
    for entry in importlib.metadata.entry_points(group="ike_agent.commands"):
        entry.load()(commands)

    user = commands.add_parser("user", help="manage NETCONF users")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    add = user_commands.add_parser(
        "add", parents=[common], help="add a user or change its credentials"
    )
    add.add_argument("name")
    how = add.add_mutually_exclusive_group(required=True)
    how.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    how.add_argument(
        "--authorized-key",
        type=pathlib.Path,
        metavar="FILE",
        help="an OpenSSH public key file (e.g. ~/.ssh/id_ed25519.pub)",
    )
    add.add_argument(
        "--group",
        action="append",
        metavar="GROUP",
        help="a NACM group of the user (repeatable; replaces the user's groups; a new user "
        "without --group is in no group)",
    )
    user_commands.add_parser("list", parents=[common], help="list the users and their groups")
    remove = user_commands.add_parser("remove", parents=[common], help="remove a user")
    remove.add_argument("name")
    commands.add_parser(
        "rotate-master-key", parents=[common],
        help="seal every stored secret under a new state/master.key (stop the agent first)",
    )
    return parser


def _user_command(args: argparse.Namespace) -> int:
    store = UserStore(args.state_dir)
    if args.user_command == "list":
        for name in store.names():
            print(f"{name}\t{','.join(store.groups(name)) or '-'}")
        return 0
    if args.user_command == "remove":
        if not store.remove(args.name):
            print(f"ike-agent: no user {args.name!r}", file=sys.stderr)
            return 1
        return 0
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        store.set_password(args.name, password)
    else:
        store.add_authorized_key(args.name, args.authorized_key.read_text(encoding="utf-8"))
    if args.group:
        store.set_groups(args.name, tuple(args.group))
    else:
        store.save_migrated()
    print(f"user {args.name!r} saved in {store.path}")
    return 0


def seed_access_control(datastore: DatastoreLike, *, first_start: bool) -> bool:
    """On a first start (or the upgrade of a pre-NACM state directory), commit the initial
    ``/nacm`` configuration unless running already has one; whether it was committed."""
    from agent.nacm.config import NACM_TAG, initial_config

    if not first_start or datastore.snapshot().data.find(NACM_TAG) is not None:
        return False
    datastore.discard_changes()
    datastore.edit_config(initial_config())
    datastore.commit()
    return True


async def _serve(options: RunOptions) -> int:
    from agent.datastore.defaults import with_defaults
    from agent.datastore.diff import config_edits
    from agent.datastore.persist import DatastoreLoadError, RollbackRecord
    from agent.datastore.schema import Schema
    from agent.datastore.secrets import KeyRing, Sealer, SecretError
    from agent.datastore.store import Datastore
    from agent.nacm.control import AccessControl
    from agent.netconf.confirmed_commit import restore_unconfirmed
    from agent.netconf.library import ModuleLibrary
    from agent.netconf.notifications import ReplayLog
    from agent.replay_file import ReplayFile
    from agent.server import NetconfServer
    from agent.system import LIMIT as HISTORY_LIMIT
    from agent.system import CommitHistory
    from agent.transport.ssh import load_or_create_host_key, start_ssh_server

    options.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    users = UserStore(options.state_dir)
    initial = ensure_initial_admin(users)
    migrated = users.save_migrated()
    if migrated:
        log.warning("%s predates NACM groups: its users are now in group 'admin'", users.path)
    schema = Schema.load()
    try:
        # The configurations of the last 50 commits (commit-history index 0..49) are kept.
        # Secret leaves are sealed in every state file under state/master.key (made now on a
        # first start; missing while sealed values exist: an error naming both files).
        sealer = Sealer(schema, KeyRing.open(options.state_dir))
        datastore = Datastore(schema, options.state_dir, history=HISTORY_LIMIT - 1,
                              sealer=sealer)
    except (DatastoreLoadError, SecretError) as exc:
        log.error("cannot load the datastore: %s", exc)
        return 2
    # A first start is quiet about it (the README says what the initial rules are); an
    # upgraded state directory says why running changed.
    if seed_access_control(datastore, first_start=datastore.generation == 0 or migrated) \
            and migrated:
        log.warning("running now holds the initial NACM rules: group 'admin' may do everything")
    # A confirmed commit left pending by a killed process is rolled back (RFC 6241 section
    # 8.4.1) before anything, the negotiator included, uses the configuration.
    rollback_record = RollbackRecord(options.state_dir, sealer)
    history = CommitHistory(datastore, schema, options.state_dir)
    datastore.add_subscriber(history)  # before the restore below: it is a commit too
    restore_unconfirmed(datastore, rollback_record)
    # The extensions (the IKE negotiator) start from the running configuration; OSError if
    # one cannot (e.g. bind its address).
    extensions: list[AgentExtension] = []
    try:
        for factory in options.factories:
            extensions.append(await factory.start(datastore.snapshot(), options.arguments))
    except OSError:
        await _stop(extensions)
        raise
    server = NetconfServer(
        datastore,
        ModuleLibrary.build(schema.modules(), schema.list_keys),
        extensions,
        max_message_size=options.max_message_size,
        idle_timeout=options.idle_timeout,
        rollback_record=rollback_record,
        replay_log=ReplayLog(datetime.datetime.now(datetime.UTC),
                             storage=ReplayFile(options.state_dir)),
        config_differ=config_edits(schema),
        defaults=lambda data, mode: with_defaults(data, mode, schema.roots),
        history=history,
        access=AccessControl(schema, datastore.snapshot, users.groups),
    )
    metrics = None
    if options.metrics_listen is not None:
        from agent.metrics import MetricsEndpoint

        server.serve_metrics_state()
        try:
            metrics = MetricsEndpoint(server.metrics.registry, *options.metrics_listen)
        except OSError as exc:
            await _stop(extensions)
            raise OSError(exc.errno, f"cannot bind the metrics address (--metrics-listen): "
                                     f"{exc.strerror or exc}") from exc
        log.info("Prometheus metrics on http://%s:%d/metrics", *metrics.address)
    server.trimmer.now()  # what loading, checking and compiling running freed (agent.memory)
    fingerprint = load_or_create_host_key(options.state_dir).get_fingerprint()
    acceptor = await start_ssh_server(
        server,
        users,
        options.state_dir,
        options.netconf_host,
        options.netconf_port,
        max_sessions=options.max_sessions,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, _reopen_log, options.log_file)
    for sock in acceptor.sockets:
        address = sock.getsockname()
        log.info("NETCONF over SSH listening on %s port %d", address[0], address[1])
    log.info("SSH host key fingerprint %s", fingerprint)
    log.info("state directory %s", options.state_dir.resolve())
    if initial is not None:
        log.warning("created user 'admin'; its password is in %s", initial.resolve())
    sd_notify("READY=1\nSTATUS=serving NETCONF" + (" and extensions" if extensions else ""))
    await stop.wait()
    sd_notify("STOPPING=1")
    log.info("stopping: closing sessions (running is already persisted)")
    acceptor.close()
    server.close_all()
    await acceptor.wait_closed()
    if metrics is not None:
        metrics.close()
    await _stop(extensions)  # the negotiator: ISAKMP DELETE to every peer
    datastore.wait_for_storage()  # a snapshot being written in the background
    return 0


async def _stop(extensions: Sequence[AgentExtension]) -> None:
    for extension in reversed(extensions):
        await extension.stop()


def _reopen_log(handler: ReopenableFileHandler | None) -> None:
    """SIGHUP: reopen the log file (after logrotate moved it); without one, nothing to do."""
    if handler is not None:
        handler.reopen()
        log.info("SIGHUP: reopened the log file %s", handler.baseFilename)
    else:
        log.info("SIGHUP: logging to standard error, nothing to reopen")


def main(argv: Sequence[str] | None = None) -> int:
    silence_dependency_warnings()
    factories = extension_factories()
    args = _parser(factories).parse_args(argv)
    if args.command not in ("run", "user", "rotate-master-key"):
        command_main: Callable[[argparse.Namespace], int] = args.main
        return command_main(args)
    if args.command == "user":
        try:
            return _user_command(args)
        except AuthError as exc:
            print(f"ike-agent: {exc}", file=sys.stderr)
            return 1
    if args.command == "rotate-master-key":
        from agent.datastore.rotate import rotate_master_key
        from agent.datastore.secrets import SecretError

        try:
            count = rotate_master_key(args.state_dir)
        except (SecretError, OSError) as exc:
            print(f"ike-agent: {exc}", file=sys.stderr)
            return 1
        print(f"{count} state file(s) sealed under the new {args.state_dir / 'master.key'}")
        return 0
    log_file = None
    if args.log_file is not None:
        try:
            log_file = ReopenableFileHandler(str(args.log_file))
        except OSError as exc:
            print(f"ike-agent: cannot open the log file: {exc}", file=sys.stderr)
            return 1
    logging.basicConfig(
        handlers=[log_file or logging.StreamHandler(sys.stderr)],
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.log_burst:
        for handler in logging.getLogger().handlers:
            handler.addFilter(LogThrottle(args.log_burst))
    # asyncssh logs every connection detail at INFO; keep its warnings only.
    logging.getLogger("asyncssh").setLevel(
        max(logging.getLevelName(args.log_level), logging.WARNING)
    )
    options = RunOptions(
        state_dir=args.state_dir,
        netconf_host=args.netconf_listen[0],
        netconf_port=args.netconf_listen[1],
        max_message_size=args.max_message_size,
        max_sessions=args.max_sessions,
        idle_timeout=args.idle_timeout,
        metrics_listen=args.metrics_listen,
        log_file=log_file,
        arguments=args,
        factories=tuple(factories),
    )
    try:
        return asyncio.run(_serve(options))
    except AuthError as exc:
        log.error("%s", exc)
        return 1
    except OSError as exc:
        log.error("cannot start: %s", exc)
        return 1
