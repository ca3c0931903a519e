"""How RedisJobStore runs jobs: claims, waits for work, finishes (a mixin of the store).

A worker that waits for work costs one write: on the lane, ``BLPOP`` on the queue's
wake-up list and the ``CLAIM`` behind it go together, so Redis claims the moment a token
arrives; a finish that waits for the next job adds ``FINISH`` in front. Anything that
goes wrong in such a chain goes again through redis-py as resends: the finish is
idempotent by its nonce, and a resent claim hands back what the first one took.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._errors import StoreError
from .._store import Finish, JobRecord
from ._redis_calls import Calls, translated
from ._redis_codec import ScriptArgs, record, socket_timeout
from ._redis_keys import QueueKeys
from ._redis_lane import LaneFailed

try:
    import redis
    import redis.exceptions as redis_errors
except ImportError:  # pragma: no cover - exercised only without the extra
    redis = None  # type: ignore[assignment]

__all__ = ["Running"]


class Running:
    """Claiming and finishing, for :class:`~._redis.RedisJobStore`."""

    # the store's state and the method this part uses
    keys: QueueKeys
    _client: Any
    _calls: Calls
    _args: ScriptArgs
    _fixed: list[Any]
    _next_due: float | None
    _backlog: bool
    _closed: bool

    if TYPE_CHECKING:

        def _sync(self, server_now: float, sent: float) -> None: ...
        def _job_keys(self, job_id: str) -> list[Any]: ...

    def _script(
        self,
        action: str,
        name: str,
        keys: list[Any],
        args: list[Any],
        *,
        resend: list[Any] | None = None,
    ) -> Any:
        """Run one script; the single place the store's script calls go through (tests
        spy on it)."""
        return self._calls.script(action, name, keys, args, resend=resend)

    def claim(self, worker_id: str, limit: int, lease: float, wait: float = 0.0) -> list[JobRecord]:
        """Promote due delayed jobs, then take up to ``limit`` ready jobs, in one script.

        With ``wait``, first block on the queue's wake-up list (``create`` and every
        requeue push a token there; one token wakes one waiting worker) for up to ``wait``
        seconds, less if the next delayed job is due sooner. On the lane the ``BLPOP`` and
        the claim go in one write, so Redis claims the moment a token arrives.
        """
        self._calls.check_eviction_once()
        wait = self._wait_time(wait)
        first, again = self._args.claim(worker_id, limit, lease)
        common = self._args.common()
        lane = self._calls.lane
        if wait and lane is not None:
            sent = time.monotonic()
            try:
                with translated("claiming jobs"):
                    claim = self._calls.lane_command("CLAIM", self._fixed, [*common, first])
                    [reply] = lane.execute_chain([self._blpop(wait), claim], _ignore)
                    if not isinstance(reply, Exception):
                        return self._claimed(self._json(reply, "claiming jobs"), sent)
                    self._calls.lane_error(reply)
            except LaneFailed as exc:
                self._calls.lane_error(exc)
            # a lost connection or an error reply: again through redis-py, as a resend
            # (it hands back what the first claim took, if it ran), translating errors
            first = again
        elif wait:
            self._wait_plain(wait)
        sent = time.monotonic()
        reply = self._run_claim(
            "claiming jobs", "CLAIM", self._fixed, [*common, first], [*common, again]
        )
        return self._claimed(reply, sent)

    def _wait_time(self, wait: float) -> float:
        """``wait``, ending when the next delayed job is due and before the socket times out."""
        if wait <= 0 or self._closed:
            return 0.0
        if self._next_due is not None:
            wait = min(wait, self._next_due - time.monotonic())
        sock_timeout = socket_timeout(self._client)
        if sock_timeout is not None:
            wait = min(wait, sock_timeout - 0.5)  # the socket must not time out first
        return wait if wait >= 0.001 else 0.0

    def _blpop(self, wait: float) -> list[Any]:
        return ["BLPOP", self.keys.wake, f"{wait:.3f}"]

    def _wait_plain(self, wait: float) -> None:
        """Wait for a token through redis-py (no lane); if Redis is down, sleep instead:
        the claim that follows reports the error."""
        started = time.monotonic()
        try:
            self._calls.blpop(self.keys.wake, wait)
        except Exception as exc:
            if not isinstance(exc, LaneFailed) and (
                redis is None or not isinstance(exc, redis_errors.RedisError)
            ):
                raise
            remaining = wait - (time.monotonic() - started)
            if remaining > 0 and not self._closed:
                time.sleep(min(remaining, 1.0))  # Redis is down: back off, not spin

    def _claimed(self, reply: list[Any], sent: float) -> list[JobRecord]:
        """Read a CLAIM / FINISH_CLAIM reply: sync the clock, note the next due job and
        whether jobs were left in the ready queue."""
        self._sync(int(reply[0]) / 1000.0, sent)
        next_due = int(float(reply[1]))
        self._next_due = None if next_due < 0 else time.monotonic() + next_due / 1000.0
        self._backlog = reply[4] == 1
        return [record(values) for values in reply[5:]]

    def _finish_claimed(
        self, reply: list[Any], job_id: str, sent: float
    ) -> tuple[JobRecord | None, list[JobRecord]]:
        """Read a FINISH_CLAIM reply: the finished job (None: refused) and the claimed ones."""
        claimed = self._claimed(reply, sent)
        return (None if reply[2] == "0" else record(reply[3], job_id)), claimed

    def _run_claim(
        self, action: str, name: str, keys: list[Any], args: list[Any], resend: list[Any]
    ) -> Any:
        """Run CLAIM or FINISH_CLAIM; their reply is one JSON array (see the scripts).

        ``resend``: the same call marked as a resend, for when a reply may have been lost
        (the script then hands back what the first send claimed).
        """
        return self._json(self._script(action, name, keys, args, resend=resend), action)

    @staticmethod
    def _json(reply: Any, action: str) -> Any:
        try:
            return json.loads(reply)
        except (ValueError, TypeError) as exc:  # pragma: no cover - only if Redis sent garbage
            raise StoreError(f"Redis returned a malformed reply while {action}") from exc

    def finish(self, job_id: str, attempt: int, finish: Finish) -> JobRecord | None:
        """Record how run ``attempt`` ended; None if that run no longer holds the job.

        A random nonce makes the script idempotent: if redis-py resends it after a lost
        reply, the second execution answers like the first instead of being rejected.
        """
        reply = self._script(
            "recording a job's outcome",
            "FINISH",
            self._job_keys(job_id),
            [*self._args.common(), *self._args.finish(attempt, finish)],
        )
        return _finish_reply(reply, job_id)

    def finish_and_claim(
        self,
        job_id: str,
        attempt: int,
        finish: Finish,
        worker_id: str,
        limit: int,
        lease: float,
        wait: float = 0.0,
        on_finished: Callable[[JobRecord | None], None] | None = None,
    ) -> tuple[JobRecord | None, list[JobRecord]]:
        """Record the end of one run and claim the next jobs, in one round trip.

        The finish is fenced exactly like :meth:`finish` (and idempotent the same way);
        the claim that follows is :meth:`claim`'s (with its ``wait``) and happens even if
        the finish was rejected. With a wait, on the lane, ``FINISH``, ``BLPOP`` and
        ``CLAIM`` go in one write, and ``on_finished`` is called when the finish's reply
        arrives, before the wait. Without a wait, or while the last claim left jobs in the
        ready queue (a backlog: a wait would end at once, and three calls cost Redis more
        than one), it is one script, ``FINISH_CLAIM``, followed by the waiting claim only
        if that found nothing.
        """
        head = [*self._args.common(), *self._args.finish(attempt, finish)]
        wait = self._wait_time(wait)
        if wait and self._calls.lane is not None and not self._backlog:
            return self._finish_wait_claim(job_id, head, worker_id, limit, lease, wait, on_finished)
        first, again = self._args.claim(worker_id, limit, lease)
        sent = time.monotonic()
        reply = self._run_claim(
            "recording a job's outcome and claiming the next",
            "FINISH_CLAIM",
            self._job_keys(job_id),
            [*head, first],
            [*head, again],
        )
        updated, claimed = self._finish_claimed(reply, job_id, sent)
        if on_finished is not None:
            on_finished(updated)
        if not claimed and wait:
            claimed = self.claim(worker_id, limit, lease, wait)
        return updated, claimed

    def _finish_wait_claim(
        self,
        job_id: str,
        head: list[Any],
        worker_id: str,
        limit: int,
        lease: float,
        wait: float,
        on_finished: Callable[[JobRecord | None], None] | None,
    ) -> tuple[JobRecord | None, list[JobRecord]]:
        """FINISH, BLPOP and CLAIM in one write on the lane (see finish_and_claim).

        Whatever goes wrong (a lost connection, an error reply such as a flushed script)
        goes again through redis-py, as resends: the finish is idempotent by its nonce
        and a resent claim hands back what the first one took.
        """
        first, again = self._args.claim(worker_id, limit, lease)
        common = head[:1]
        keys = self._job_keys(job_id)
        finished: list[JobRecord | None] = []

        def finish_read(reply: Any) -> None:
            if isinstance(reply, Exception):
                self._calls.lane_error(reply)
                return
            updated = _finish_reply(reply, job_id)
            finished.append(updated)
            if on_finished is not None:
                on_finished(updated)

        sent = time.monotonic()
        lane = self._calls.lane
        assert lane is not None
        try:
            with translated("recording a job's outcome"):
                _, reply = lane.execute_chain(
                    [
                        self._calls.lane_command("FINISH", keys, head),
                        self._blpop(wait),
                        self._calls.lane_command("CLAIM", self._fixed, [*common, first]),
                    ],
                    finish_read,
                )
                if finished and not isinstance(reply, Exception):
                    return finished[0], self._claimed(self._json(reply, "claiming jobs"), sent)
                if isinstance(reply, Exception):
                    self._calls.lane_error(reply)
        except LaneFailed as exc:
            self._calls.lane_error(exc)
        sent = time.monotonic()
        if finished:
            reply = self._run_claim(
                "claiming jobs", "CLAIM", self._fixed, [*common, again], [*common, again]
            )
            return finished[0], self._claimed(reply, sent)
        reply = self._run_claim(
            "recording a job's outcome and claiming the next",
            "FINISH_CLAIM",
            keys,
            [*head, again],
            [*head, again],
        )
        updated, claimed = self._finish_claimed(reply, job_id, sent)
        if on_finished is not None:
            on_finished(updated)
        return updated, claimed


def _finish_reply(reply: Any, job_id: str) -> JobRecord | None:
    """Read a FINISH reply: the job as written, or None when the finish was refused."""
    if reply[0] not in (b"1", "1"):
        return None
    return record(json.loads(reply[1]), job_id)


def _ignore(reply: Any) -> None:
    """A reply not needed (a wake-up token)."""
