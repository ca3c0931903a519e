"""Copying an import's WAL into the SQLite database file on a second thread.

In WAL mode every commit appends the pages it changed to the ``-wal`` file;
a *checkpoint* copies them back into the database file, and SQLite runs one
inside the ``COMMIT`` that takes the WAL past ``wal_autocheckpoint`` pages.
An import upserts rows at random places of two natural-key indexes, so each
commit of 100 rows changes ~150 pages and checkpoints took about a third of
the time spent in SQLite, all of it on the importing thread.

:class:`Checkpointer` runs them on a thread of its own, with its own
connection. ``sqlite3`` releases the GIL for the whole checkpoint (one
statement), so it overlaps with parsing on another core and needs the GIL
only a few times per checkpoint. The importing connection keeps the WAL
bounded: when it has grown past :data:`WAL_PAGES` and the thread is idle,
:meth:`Checkpointer.settle` copies the few pages left, so the next transaction
starts the WAL file over, as an automatic checkpoint would.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable

__all__ = ["COMMITS_PER_CHECKPOINT", "WAL_PAGES", "Checkpointer"]

#: Pages in the WAL after which the writer settles it (the ``wal_autocheckpoint``
#: the sink had before: ~40 MB with 4 KiB pages).
WAL_PAGES = 10_000
#: Commits (of ~150 pages each in an Orders import) between two background
#: checkpoints. One per commit copied the same index pages over and over and
#: synced the file each time (slower than no thread at all); 32 measured best
#: of 8-48 on 200,000 rows.
COMMITS_PER_CHECKPOINT = 32


class Checkpointer:
    """Checkpoint a database's WAL in the background while a writer commits.

    Args:
        connect: Opens a connection to the database (called once, here).
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._conn = connect()
        # One checkpoint at a time; the writer's settle() skips while ours runs.
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._commits = 0
        #: Pages in the WAL at the last checkpoint (0 after a settle()).
        self.wal_pages = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name="threadjobs-csv-checkpoint", daemon=True
        )
        self._thread.start()

    def committed(self) -> None:
        """Tell the thread a transaction was committed: there are pages to copy."""
        self._commits += 1
        if self._commits >= COMMITS_PER_CHECKPOINT:
            self._commits = 0
            self._wake.set()

    def settle(self, conn: sqlite3.Connection) -> bool:
        """Finish copying the WAL from the writer's connection, between transactions.

        Afterwards every committed page is in the database file, so the
        writer's next transaction starts the WAL file from its beginning.
        Does nothing and returns ``False`` while the thread is checkpointing:
        the writer would only wait for it; it tries again after its next commit.
        """
        if not self._lock.acquire(blocking=False):
            return False
        try:
            _checkpoint(conn)
            self.wal_pages = 0
        finally:
            self._lock.release()
        return True

    def close(self) -> None:
        """Stop the thread and close its connection."""
        self._closed = True
        self._wake.set()
        self._thread.join()
        self._conn.close()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            try:
                # A pass over a big WAL takes a while, and the writer commits
                # meanwhile; a second pass copies those pages, so that the
                # writer's settle() has only a few left to copy.
                for _ in range(2):
                    if self._closed:
                        return
                    with self._lock:
                        pages = self.wal_pages = _checkpoint(self._conn)
                    if pages < WAL_PAGES:
                        break
            except sqlite3.Error as exc:
                # The writer's settle() still checkpoints, so the import
                # goes on as with SQLite's own automatic checkpoints.
                self.error = exc
                return


def _checkpoint(conn: sqlite3.Connection) -> int:
    """Run a PASSIVE checkpoint (never blocks writers); return the WAL's size in pages."""
    row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(row[1]) if row else 0
