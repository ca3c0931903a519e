"""Schemathesis over the router's OpenAPI schema: no input makes it answer 500.

Every operation gets generated valid and invalid requests (bodies, query strings,
path ids, the account header); each answer must not be a server error, must be a
status code the schema documents, and must match the documented response model.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from threadjobs import JobManager

from .conftest import import_test_client, make_app
from .handlers import EchoHandler, FailHandler, SlowHandler

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

import_test_client()  # before schemathesis loads it, so its httpx warning stays silent

# One manager for the whole run: a fuzzer's requests are short and the jobs stay queued.
MANAGER = JobManager(max_workers=0)
for _handler in (EchoHandler(), FailHandler(), SlowHandler()):
    MANAGER.register(_handler)
APP = make_app(MANAGER)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()  # type: ignore[untyped-decorator, unused-ignore]
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case: Any) -> None:
    case.call_and_validate(
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance]
    )
