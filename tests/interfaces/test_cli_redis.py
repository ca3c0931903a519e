"""The ``threadjobs`` command against a real Redis: a worker process and the commands
that look at its jobs from other processes. Skipped without ``redis-server``."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from threadjobs import JobManager, JobStatus

from .conftest import WorkerProcess, run_cli, wait_until
from .handlers import register

pytestmark = pytest.mark.redis


@pytest.fixture
def producer(redis_url: str, queue: str) -> Iterator[JobManager]:
    """A producer-only manager on the test's queue, as a web process would hold."""
    from threadjobs.stores import RedisJobStore

    store = RedisJobStore.from_url(redis_url, queue=queue)
    manager = JobManager(store, max_workers=0)
    register(manager)
    yield manager
    manager.shutdown()
    store.close()


@pytest.fixture
def start_worker(
    redis_url: str, queue: str, tmp_path: Path
) -> Iterator[Callable[..., WorkerProcess]]:
    """Start workers on the test's queue with the test handlers; killed at teardown."""
    workers: list[WorkerProcess] = []

    def start(*extra: str) -> WorkerProcess:
        worker = WorkerProcess(
            ["--store", redis_url, "--queue", queue,
             "--handlers", "tests.interfaces.handlers:register", *extra],
            tmp_path / f"worker{len(workers)}.log",
            ready="job types:",
        )  # fmt: skip
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def cli(redis_url: str, queue: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, "--queue", queue, env_store=redis_url)


def test_watch_exits_0_when_the_job_completes(
    producer: JobManager, start_worker: Callable[..., WorkerProcess], redis_url: str, queue: str
) -> None:
    start_worker()
    job_id = producer.submit("echo", account_id=3, params={"text": "ok"})

    result = cli(redis_url, queue, "watch", job_id)

    assert result.returncode == 0, result.stderr
    assert f"job {job_id} completed" in result.stdout
    assert "100.0%" in result.stdout


def test_watch_exits_1_when_the_job_fails(
    producer: JobManager, start_worker: Callable[..., WorkerProcess], redis_url: str, queue: str
) -> None:
    worker = start_worker()
    job_id = producer.submit("fail", account_id=3)

    result = cli(redis_url, queue, "watch", job_id)

    assert result.returncode == 1
    assert "ValueError: this job always fails" in result.stdout
    assert f"job {job_id} (fail) failed" in worker.text()


def test_cancel_stops_a_running_job_and_watch_exits_3(
    producer: JobManager, start_worker: Callable[..., WorkerProcess], redis_url: str, queue: str
) -> None:
    start_worker()
    job_id = producer.submit("slow", account_id=3, params={"seconds": 60})
    wait_until(lambda: producer.get(job_id).status is JobStatus.RUNNING, "the job to run")

    cancelled = cli(redis_url, queue, "cancel", job_id)
    watched = cli(redis_url, queue, "watch", job_id, "--json")

    assert cancelled.returncode == 0
    assert "stops at its next checkpoint" in cancelled.stdout
    assert watched.returncode == 3
    assert json.loads(watched.stdout)["status"] == "cancelled"
    assert cli(redis_url, queue, "cancel", job_id).returncode == 5


def test_watch_timeout_exits_7_and_leaves_the_job_alone(
    producer: JobManager, redis_url: str, queue: str
) -> None:
    job_id = producer.submit("echo", params={"text": "x"}, delay=600)

    result = cli(redis_url, queue, "watch", job_id, "--timeout", "0.3")

    assert result.returncode == 7
    assert "still queued" in result.stderr
    assert producer.get(job_id).status is JobStatus.QUEUED


def test_list_show_and_stats_see_jobs_of_other_processes(
    producer: JobManager, redis_url: str, queue: str
) -> None:
    ids = [producer.submit("echo", account_id=5, params={"text": str(i)}) for i in range(3)]
    producer.submit("echo", account_id=6, params={"text": "other"})

    listed = cli(redis_url, queue, "list", "--account", "5", "--limit", "2")
    shown = cli(redis_url, queue, "show", ids[0])
    stats = json.loads(cli(redis_url, queue, "stats", "--json", "--account", "5").stdout)

    rows = listed.stdout.splitlines()
    assert rows[0].split()[:4] == ["ID", "TYPE", "ACCOUNT", "STATUS"]
    assert [r.split()[0] for r in rows[1:3]] == [ids[2], ids[1]]
    assert rows[3].startswith("more: threadjobs list --cursor ")
    assert f"id:          {ids[0]}" in shown.stdout
    assert '"text": "0"' in shown.stdout
    assert stats["by_status"]["queued"] == 3
    assert listed.stderr == ""  # no memory-store hint on a shared store


def test_sigterm_lets_the_worker_requeue_a_running_job_and_exit_0(
    producer: JobManager, start_worker: Callable[..., WorkerProcess]
) -> None:
    worker = start_worker("--grace", "0.2")
    job_id = producer.submit("slow", params={"seconds": 60})
    # Wait for progress, not just `running`: the store says running as soon as the job
    # is claimed, a moment before its handler starts, and this test is about a handler
    # that is running (a job claimed but not started goes back uncharged too: see
    # tests/core/test_control.py::test_a_job_claimed_as_shutdown_begins_goes_back_uncharged).
    wait_until(lambda: producer.get(job_id).progress.step == "work", "the handler to run")

    worker.proc.send_signal(signal.SIGTERM)

    assert worker.proc.wait(timeout=30) == 0
    job = producer.get(job_id)
    assert job.status is JobStatus.QUEUED, job.errors
    assert "Traceback" not in worker.text()


def test_sigterm_lets_a_short_job_finish_first(
    producer: JobManager, start_worker: Callable[..., WorkerProcess]
) -> None:
    worker = start_worker("--grace", "20")
    job_id = producer.submit("slow", params={"seconds": 0.5})
    wait_until(lambda: producer.get(job_id).progress.step == "work", "the handler to run")

    worker.proc.send_signal(signal.SIGTERM)

    assert worker.proc.wait(timeout=30) == 0
    assert producer.get(job_id).status is JobStatus.COMPLETED


def test_import_csv_on_redis_is_run_by_a_worker(
    producer: JobManager, redis_url: str, queue: str, tmp_path: Path
) -> None:
    from .test_cli import ORDERS_CSV

    db = tmp_path / "shop.db"
    csv_file = tmp_path / "orders.csv"
    csv_file.write_text(ORDERS_CSV, encoding="utf-8")
    handlers = tmp_path / "shop_handlers.py"
    handlers.write_text(
        "from threadjobs.ext.csv_import import CsvImportHandler, SqliteSink, SqliteUploadStore\n"
        f"HANDLERS = [CsvImportHandler(SqliteSink({str(db)!r}), SqliteUploadStore({str(db)!r}))]\n"
    )
    worker = WorkerProcess(
        ["--store", redis_url, "--queue", queue, "--handlers", "shop_handlers"],
        tmp_path / "csv-worker.log",
        ready="job types: csv_import",
        cwd=tmp_path,  # the worker imports handler modules from its directory
    )
    try:
        result = cli(
            redis_url, queue, "import-csv", str(csv_file), "--db", str(db), "--account", "9"
        )
    finally:
        worker.proc.send_signal(signal.SIGTERM)
        worker.proc.wait(timeout=30)

    assert result.returncode == 0, result.stderr + worker.text()
    assert "2 inserted" in result.stdout
