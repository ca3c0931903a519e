"""The ``threadjobs`` command line: run workers, look at jobs, follow one, import a CSV.

Commands: ``worker``, ``list``, ``show``, ``cancel``, ``stats``, ``watch``, ``import-csv``.
The store is chosen by ``--store URL`` or ``THREADJOBS_STORE`` (``memory``, the
default, or ``redis://...``). See ``docs/cli.md``.

Exit codes (:class:`ExitCode`): 0 ok / job completed, 1 job failed, 2 usage error,
3 job cancelled, 4 no such job, 5 already finished, 6 store unavailable,
7 ``watch --timeout`` passed, 70 internal error, 130 interrupted.

Only the standard library's ``argparse``: the ``[cli]`` extra adds no dependency.
"""

from __future__ import annotations

from ._app import main as main
from ._common import ExitCode as ExitCode

__all__ = ["ExitCode", "main"]
