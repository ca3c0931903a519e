"""Behaviour of the job router through FastAPI's TestClient."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from threadjobs import JobManager, JobStatus

from .handlers import EchoHandler, FailHandler, SlowHandler

ALICE = {"X-Account": "1"}
BOB = {"X-Account": "2"}


@pytest.fixture
def producer(make_manager: Callable[..., JobManager]) -> JobManager:
    """A producer-only manager: submitted jobs stay queued."""
    return make_manager(EchoHandler(), FailHandler(), SlowHandler(), max_workers=0)


@pytest.fixture
def client(producer: JobManager, client_for: Callable[..., Any]) -> Any:
    return client_for(producer)


def create(client: Any, headers: dict[str, str] = ALICE, **body: Any) -> Any:
    body.setdefault("job_type", "echo")
    body.setdefault("params", {"text": "hi"})
    return client.post("/jobs", json=body, headers=headers)


def test_create_answers_201_with_the_job_and_its_location(client: Any) -> None:
    response = create(client, priority=7, max_retries=2, timeout=30)

    assert response.status_code == 201
    job = response.json()
    assert (job["job_type"], job["status"], job["account_id"]) == ("echo", "queued", 1)
    assert (job["priority"], job["max_retries"], job["timeout"]) == (7, 2, 30.0)
    assert response.headers["Location"].endswith(f"/jobs/{job['id']}")


def test_get_answers_the_callers_job(client: Any) -> None:
    job_id = create(client).json()["id"]

    response = client.get(f"/jobs/{job_id}", headers=ALICE)

    assert response.status_code == 200
    assert response.json()["params"] == {"text": "hi", "times": 1}


def test_another_accounts_job_is_not_found_for_every_endpoint(client: Any) -> None:
    job_id = create(client, headers=ALICE).json()["id"]

    answers = [
        client.get(f"/jobs/{job_id}", headers=BOB),
        client.post(f"/jobs/{job_id}/cancel", headers=BOB),
        client.delete(f"/jobs/{job_id}", headers=BOB),
    ]

    assert [r.status_code for r in answers] == [404, 404, 404]
    assert client.get(f"/jobs/{job_id}", headers=ALICE).json()["status"] == "queued"


def test_a_missing_job_and_a_foreign_job_answer_the_same(client: Any) -> None:
    job_id = create(client, headers=ALICE).json()["id"]
    missing = "f" * len(job_id)

    foreign = client.get(f"/jobs/{job_id}", headers=BOB).json()["detail"]
    absent = client.get(f"/jobs/{missing}", headers=BOB).json()["detail"]

    assert foreign == absent.replace(missing, job_id)


def test_list_shows_only_the_callers_jobs_newest_first(client: Any) -> None:
    mine = [create(client, headers=ALICE).json()["id"] for _ in range(3)]
    create(client, headers=BOB)

    page = client.get("/jobs", headers=ALICE).json()

    assert [j["id"] for j in page["jobs"]] == mine[::-1]
    assert page["next_cursor"] is None


def test_list_pages_with_the_cursor(client: Any) -> None:
    ids = [create(client).json()["id"] for _ in range(5)]

    first = client.get("/jobs", params={"limit": 2}, headers=ALICE).json()
    second = client.get(
        "/jobs", params={"limit": 2, "cursor": first["next_cursor"]}, headers=ALICE
    ).json()

    assert [j["id"] for j in first["jobs"] + second["jobs"]] == ids[::-1][:4]


def test_list_filters_by_status(client: Any) -> None:
    keep = create(client).json()["id"]
    gone = create(client).json()["id"]
    client.delete(f"/jobs/{gone}", headers=ALICE)

    page = client.get("/jobs", params={"status": "queued"}, headers=ALICE).json()

    assert [j["id"] for j in page["jobs"]] == [keep]


@pytest.mark.parametrize(
    ("query", "field"),
    [({"limit": 101}, "limit"), ({"limit": 0}, "limit"), ({"status": "lost"}, "status")],
)
def test_bad_list_queries_answer_422_naming_the_field(
    client: Any, query: dict[str, Any], field: str
) -> None:
    response = client.get("/jobs", params=query, headers=ALICE)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]


def test_bad_params_answer_422_naming_the_field(client: Any) -> None:
    response = create(client, params={"text": "hi", "times": "many"})

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "params", "times"]
    assert error["input"] == "many"


def test_missing_params_answer_422_naming_each_field(client: Any) -> None:
    response = create(client, params={})

    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "params", "text"]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"priority": 11}, "priority"),
        ({"max_retries": -1}, "max_retries"),
        ({"timeout": 0}, "timeout"),
        ({"job_type": ""}, "job_type"),
        ({"params": []}, "params"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_options_answer_422_naming_the_field(
    client: Any, change: dict[str, Any], field: str
) -> None:
    response = create(client, **change)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]


def test_nan_in_params_answers_422_not_500(client: Any) -> None:
    # Python's JSON parser accepts the NaN literal; JSON does not.
    body = '{"job_type": "echo", "params": {"text": "hi", "extra": NaN}}'

    response = client.post(
        "/jobs", content=body, headers={**ALICE, "Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "params"]


def test_unknown_job_type_answers_400_without_listing_internals(client: Any) -> None:
    response = create(client, job_type="mine_bitcoin")

    assert response.status_code == 400
    assert response.json() == {"detail": "unknown job type 'mine_bitcoin'"}


def test_types_outside_allowed_job_types_answer_400(
    producer: JobManager, client_for: Callable[..., Any]
) -> None:
    client = client_for(producer, allowed_job_types=["echo"])

    response = create(client, job_type="slow", params={})

    assert response.status_code == 400
    assert response.json()["detail"] == "unknown job type 'slow'; use one of: echo"
    assert create(client).status_code == 201


def test_cancel_of_a_queued_job_cancels_it(client: Any) -> None:
    job_id = create(client).json()["id"]

    response = client.post(f"/jobs/{job_id}/cancel", headers=ALICE)

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"


def test_cancel_of_a_finished_job_answers_409(client: Any) -> None:
    job_id = create(client).json()["id"]
    client.delete(f"/jobs/{job_id}", headers=ALICE)

    response = client.delete(f"/jobs/{job_id}", headers=ALICE)

    assert response.status_code == 409
    assert "already cancelled" in response.json()["detail"]


def test_stats_count_only_the_callers_jobs(client: Any) -> None:
    create(client, headers=ALICE)
    create(client, headers=ALICE)
    create(client, headers=BOB)

    stats = client.get("/jobs/stats", headers=ALICE).json()

    assert stats["account_id"] == 1
    assert stats["by_status"]["queued"] == 2
    assert stats["last_24h"]["echo"]["queued"] == 2


def test_failed_jobs_hide_tracebacks_unless_exposed(
    make_manager: Callable[..., JobManager], client_for: Callable[..., Any]
) -> None:
    manager = make_manager(FailHandler(), max_workers=1)
    hidden, shown = client_for(manager), client_for(manager, expose_tracebacks=True)
    job_id = create(hidden, job_type="fail", params={}).json()["id"]
    assert manager.wait(job_id, timeout=10).status is JobStatus.FAILED

    (error,) = hidden.get(f"/jobs/{job_id}", headers=ALICE).json()["errors"]
    (raw,) = shown.get(f"/jobs/{job_id}", headers=ALICE).json()["errors"]

    assert (error["type"], error["message"]) == ("ValueError", "this job always fails")
    assert error["traceback"] == ""
    assert "Traceback" in raw["traceback"]


def test_a_completed_job_shows_its_result(
    make_manager: Callable[..., JobManager], client_for: Callable[..., Any]
) -> None:
    manager = make_manager(EchoHandler(), max_workers=1)
    client = client_for(manager)
    job_id = create(client, params={"text": "ab", "times": 2}).json()["id"]
    manager.wait(job_id, timeout=10)

    job = client.get(f"/jobs/{job_id}", headers=ALICE).json()

    assert (job["status"], job["result"], job["progress"]["step"]) == ("completed", "abab", "echo")


def test_no_account_answers_the_dependencys_401(client: Any) -> None:
    assert client.get("/jobs").status_code == 401


def test_store_down_answers_503_with_retry_after(
    make_manager: Callable[..., JobManager], client_for: Callable[..., Any], free_tcp_port: int
) -> None:
    pytest.importorskip("redis")
    from threadjobs.stores import RedisJobStore

    store = RedisJobStore.from_url(f"redis://127.0.0.1:{free_tcp_port}/0", socket_connect_timeout=1)
    client = client_for(make_manager(EchoHandler(), store=store, max_workers=0))

    answers = [
        create(client),
        client.get("/jobs", headers=ALICE),
        client.get("/jobs/stats", headers=ALICE),
        client.get("/jobs/0123", headers=ALICE),
        client.delete("/jobs/0123", headers=ALICE),
    ]

    assert {r.status_code for r in answers} == {503}
    assert {r.headers["Retry-After"] for r in answers} == {"5"}


def test_openapi_schema_has_the_response_models(client: Any) -> None:
    schema = client.get("/openapi.json").json()
    paths, models = schema["paths"], schema["components"]["schemas"]

    def response_ref(path: str, method: str, status: str) -> str:
        content = paths[path][method]["responses"][status]["content"]
        return str(content["application/json"]["schema"]["$ref"]).rsplit("/", 1)[-1]

    assert response_ref("/jobs", "post", "201") == "Job"
    assert response_ref("/jobs", "get", "200") == "JobPage"
    assert response_ref("/jobs/stats", "get", "200") == "JobStats"
    assert response_ref("/jobs/{job_id}", "get", "200") == "Job"
    assert response_ref("/jobs/{job_id}", "get", "404") == "ErrorResponse"
    assert response_ref("/jobs/{job_id}/cancel", "post", "409") == "ErrorResponse"
    assert {"Job", "JobPage", "JobStats", "Progress", "AttemptError", "JobCreate"} <= set(models)


def test_prefix_must_be_a_path(producer: JobManager) -> None:
    from threadjobs.ext.fastapi import job_router

    with pytest.raises(ValueError, match="prefix"):
        job_router(producer, lambda: 1, prefix="jobs/")


def test_import_without_fastapi_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['fastapi'] = None\n"
        "try:\n"
        "    import threadjobs.ext.fastapi\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__module__, type(exc).__name__, exc)\n"
    )

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout

    assert out.startswith("threadjobs MissingDependency")
    assert "pip install 'threadjobs[fastapi]'" in out
