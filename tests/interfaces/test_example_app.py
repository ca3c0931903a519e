"""examples/ebay_app.py works: upload a CSV, follow its import through the job router."""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT, import_test_client, wait_until
from .test_cli import ORDERS_CSV

pytest.importorskip("fastapi")


def load_example() -> Any:
    spec = importlib.util.spec_from_file_location("ebay_app", ROOT / "examples" / "ebay_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_upload_is_imported_and_only_its_seller_sees_the_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THREADJOBS_STORE", "memory")
    monkeypatch.setenv("EBAY_DB", str(tmp_path / "shop.db"))
    monkeypatch.setenv("EBAY_UPLOADS", str(tmp_path / "uploads"))
    seller = {"X-Account-Id": "7"}

    with import_test_client()(load_example().create_app()) as client:
        upload = client.put("/uploads/my orders;(1).csv", content=ORDERS_CSV, headers=seller)
        assert upload.status_code == 202, upload.text
        job_url = f"/jobs/{upload.json()['id']}"

        def done() -> bool:
            return bool(client.get(job_url, headers=seller).json()["status"] == "completed")

        wait_until(done, "the import to complete")
        job = client.get(job_url, headers=seller).json()
        stranger = client.get(job_url, headers={"X-Account-Id": "8"})

    assert job["result"]["inserted_rows"] == 2
    assert stranger.status_code == 404
    with sqlite3.connect(tmp_path / "shop.db") as conn:
        assert conn.execute("SELECT count(*) FROM ebay_orders").fetchone() == (2,)
    (stored,) = (tmp_path / "uploads").iterdir()
    assert stored.name.endswith("-my_orders__1_.csv")
