"""The ``threadjobs`` argument parser and the one place errors become exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from threadjobs import JobStatus, MissingDependency, StoreUnavailable, ThreadJobsError, __version__

from ._commands import cmd_cancel, cmd_list, cmd_show, cmd_stats, cmd_watch
from ._common import CliError, ExitCode
from ._import_csv import CSV_TYPES, cmd_import_csv
from ._worker import cmd_worker

__all__ = ["build_parser", "main"]

Command = Callable[[argparse.Namespace], int]


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that reports a mistake in one line instead of usage + error."""

    def error(self, message: str) -> NoReturn:
        """Print ``threadjobs CMD: error: MESSAGE (see --help)`` and exit 2."""
        self.exit(ExitCode.USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see :class:`ExitCode`)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else ExitCode.USAGE
    command: Command = args.command
    try:
        return int(command(args))
    except CliError as exc:
        return _fail(str(exc), exc.code, exc.hint)
    except KeyboardInterrupt:
        return _fail("interrupted", ExitCode.INTERRUPTED)
    except StoreUnavailable as exc:
        return _fail(f"the store is unavailable: {exc}", ExitCode.UNAVAILABLE)
    except MissingDependency as exc:
        return _fail(str(exc), ExitCode.USAGE)
    except ThreadJobsError as exc:
        return _fail(str(exc), ExitCode.FAILED)
    except Exception as exc:
        if os.environ.get("THREADJOBS_DEBUG"):
            raise
        return _fail(
            f"internal error: {type(exc).__name__}: {exc}",
            ExitCode.INTERNAL,
            "set THREADJOBS_DEBUG=1 to see the traceback, and please report it",
        )


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command."""
    parser = Parser(
        prog="threadjobs",
        description="Run, follow and control threadjobs jobs.",
        epilog="Exit codes: 0 ok/completed, 1 failed, 2 usage error, 3 cancelled, 4 no such job, "
        "5 already finished, 6 store unavailable, 7 watch timeout, 130 interrupted. "
        "See docs/cli.md.",
    )
    parser.add_argument("--version", action="version", version=f"threadjobs {__version__}")
    store = Parser(add_help=False)
    store.add_argument(
        "--store",
        metavar="URL",
        help="memory, redis://HOST:PORT/DB or rediss://... (default: $THREADJOBS_STORE, "
        "else memory)",
    )
    store.add_argument(
        "--queue",
        default=os.environ.get("THREADJOBS_QUEUE", "default"),
        help="the queue name on a Redis store (default: $THREADJOBS_QUEUE, else 'default')",
    )
    json_output = Parser(add_help=False)
    json_output.add_argument("--json", action="store_true", help="print JSON for scripts")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    def command(name: str, run: Command, help: str, *parents: Parser) -> Parser:
        sub: Parser = commands.add_parser(
            name, help=help, description=help, parents=[store, *parents]
        )
        sub.set_defaults(command=run)
        return sub

    worker = command("worker", cmd_worker, "run jobs until SIGTERM or SIGINT")
    worker.add_argument(
        "--handlers",
        action="append",
        required=True,
        metavar="MODULE[:ATTR]",
        help="where the handlers are: a module with register(manager) or HANDLERS, or "
        "module:attribute (repeatable)",
    )
    worker.add_argument("--workers", type=_int_range(1, 1024), default=4, help="threads (4)")
    worker.add_argument(
        "--grace",
        type=_seconds,
        default=25.0,
        help="seconds running jobs get to finish on shutdown before going back to the queue (25)",
    )
    worker.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )

    listing = command("list", cmd_list, "list jobs, newest first", json_output)
    _account_option(listing)
    listing.add_argument("--status", choices=[s.value for s in JobStatus])
    listing.add_argument("--limit", type=_int_range(1, 1000), default=20, help="page size (20)")
    listing.add_argument("--cursor", help="the 'more:' cursor printed by the previous page")

    show = command("show", cmd_show, "show one job", json_output)
    show.add_argument("job_id", metavar="JOB_ID")

    cancel = command("cancel", cmd_cancel, "cancel a job", json_output)
    cancel.add_argument("job_id", metavar="JOB_ID")

    stats = command("stats", cmd_stats, "job counts by status and type", json_output)
    _account_option(stats)

    watch = command("watch", cmd_watch, "follow a job with a live progress bar", json_output)
    watch.add_argument("job_id", metavar="JOB_ID")
    _watch_options(watch)

    importer = command(
        "import-csv", cmd_import_csv, "import an eBay CSV file as a job and watch it", json_output
    )
    importer.add_argument("file", metavar="FILE")
    importer.add_argument("--db", required=True, metavar="PATH", help="the SQLite database file")
    importer.add_argument("--account", required=True, help="the account the rows belong to")
    importer.add_argument("--type", choices=CSV_TYPES, help="the CSV type (default: detected)")
    importer.add_argument(
        "--detach", action="store_true", help="print the job id and exit (shared store only)"
    )
    return parser


def _account_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--account", help="only this account's jobs (digits are an int id)")


def _watch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--interval", type=_seconds, default=0.25, help="seconds between redraws (0.25)"
    )
    parser.add_argument("--timeout", type=_seconds, help="give up after this many seconds")


def _int_range(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {value}")
        return value

    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text}")
    return value


def _fail(message: str, code: ExitCode, hint: str = "") -> int:
    print(f"threadjobs: error: {message}", file=sys.stderr)
    if hint:
        print(f"hint: {hint}", file=sys.stderr)
    return int(code)
