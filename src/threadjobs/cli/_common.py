"""What every command shares: exit codes, the error a command stops with, small parsers."""

from __future__ import annotations

import enum

__all__ = ["MEMORY_HINT", "CliError", "ExitCode", "parse_account"]


class ExitCode(enum.IntEnum):
    """The exit codes of ``threadjobs``; scripts may rely on them."""

    OK = 0
    """Done; for ``watch`` and ``import-csv``: the job completed."""
    FAILED = 1
    """The job failed (or, outside ``watch``, an unexpected error)."""
    USAGE = 2
    """A mistake in the command line: bad option, store URL, file or handlers module."""
    CANCELLED = 3
    """The job was cancelled."""
    NOT_FOUND = 4
    """No job with that id."""
    CONFLICT = 5
    """``cancel`` of a job that already finished."""
    UNAVAILABLE = 6
    """The store cannot be reached."""
    TIMEOUT = 7
    """``watch --timeout`` passed and the job is still going."""
    INTERNAL = 70
    """A bug in threadjobs or in a handler module (EX_SOFTWARE); please report it."""
    INTERRUPTED = 130
    """Ctrl-C (or a second SIGTERM) stopped the command."""


class CliError(Exception):
    """Stops a command with one line on stderr and an exit code.

    Args:
        message: The line, without the ``threadjobs: error:`` prefix.
        code: The exit code.
        hint: An optional second line telling what to do.
    """

    def __init__(self, message: str, code: ExitCode = ExitCode.USAGE, hint: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.hint = hint


MEMORY_HINT = (
    "the memory store lives inside one process, so this new process sees no jobs; "
    "use a shared store: --store redis://HOST:6379/0 (or set THREADJOBS_STORE)"
)


def parse_account(text: str) -> int | str:
    """An account id from the command line: digits are an int, anything else a str.

    Stores keep ``7`` and ``"7"`` apart, and applications almost always use int ids.
    """
    stripped = text.strip()
    if not stripped:
        raise CliError("--account must not be empty")
    if stripped.lstrip("-").isdigit():
        return int(stripped)
    return stripped
