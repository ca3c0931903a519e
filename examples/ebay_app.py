"""A small web app in the shape of the eBay seller tool: upload a CSV, follow its import.

Sellers are accounts, named by an ``X-Account-Id`` header (a real app reads its
session or token here). ``PUT /uploads/{filename}`` stores the file, records the
upload and submits a ``csv_import`` job; ``/jobs`` is threadjobs' router, so a
seller sees and cancels only their own jobs.

Run everything in one process (memory store, in-process workers)::

    python examples/ebay_app.py            # or: uvicorn ebay_app:create_app --factory
    curl -X PUT -H 'X-Account-Id: 7' --data-binary @orders.csv \\
        localhost:8000/uploads/orders.csv
    curl -H 'X-Account-Id: 7' localhost:8000/jobs/JOB_ID

Or share the queue through Redis, with the workers in their own processes::

    export THREADJOBS_STORE=redis://localhost:6379/0 EBAY_DB=/srv/ebay/shop.db
    threadjobs worker --handlers ebay_app:register     # from examples/, as many as needed
    uvicorn ebay_app:create_app --factory               # web processes run no jobs

Settings come from the environment: ``THREADJOBS_STORE`` (default ``memory``),
``EBAY_DB`` (the SQLite file, default ``ebay.db``), ``EBAY_UPLOADS`` (where uploaded
files are kept, default ``uploads/``; workers must see the same path).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from threadjobs import Job, JobManager, JobStore, MemoryJobStore
from threadjobs.ext.csv_import import CsvImportHandler, SqliteSink, SqliteUploadStore
from threadjobs.ext.fastapi import job_router

#: Uploads larger than this are refused; eBay's biggest exports are a few hundred MB.
MAX_UPLOAD_BYTES = 512 * 1024 * 1024


def settings() -> tuple[str, Path, Path]:
    """The store URL, the database file and the uploads directory, from the environment."""
    store = os.environ.get("THREADJOBS_STORE", "memory")
    database = Path(os.environ.get("EBAY_DB", "ebay.db"))
    uploads = Path(os.environ.get("EBAY_UPLOADS", "uploads"))
    return store, database, uploads


def open_store(url: str) -> JobStore:
    """``memory`` or a Redis URL."""
    if url == "memory":
        return MemoryJobStore()
    from threadjobs.stores import RedisJobStore

    return RedisJobStore.from_url(url)


def register(manager: JobManager) -> None:
    """Register the app's handlers; ``threadjobs worker --handlers ebay_app:register``."""
    _, database, _ = settings()
    manager.register(CsvImportHandler(SqliteSink(database), SqliteUploadStore(database)))


def current_account(
    x_account_id: Annotated[int | None, Header(description="The seller's account id.")] = None,
) -> int:
    """The calling seller. A real app authenticates a session or token here."""
    if x_account_id is None:
        raise HTTPException(401, "send the X-Account-Id header")
    return x_account_id


def create_app() -> FastAPI:
    """Build the app: the manager, the upload endpoint and the job router."""
    store_url, database, upload_dir = settings()
    upload_dir.mkdir(parents=True, exist_ok=True)
    # With Redis, web processes only submit; `threadjobs worker` processes run the jobs.
    manager = JobManager(open_store(store_url), max_workers=2 if store_url == "memory" else 0)
    register(manager)
    uploads = SqliteUploadStore(database)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        manager.shutdown()

    app = FastAPI(title="eBay seller imports", lifespan=lifespan)
    app.include_router(
        job_router(
            manager,
            current_account,
            prefix="/jobs",
            allowed_job_types=["csv_import"],
            responses={401: {"description": "No X-Account-Id header."}},
        )
    )

    @app.put("/uploads/{filename}", status_code=202, response_model=Job, tags=["uploads"])
    async def upload_csv(
        filename: str, request: Request, account: Annotated[int, Depends(current_account)]
    ) -> Job:
        """Store the request body as a CSV file and start importing it."""
        body = await request.body()
        if not body:
            raise HTTPException(422, "the request body is empty; send the CSV file")
        if len(body) > MAX_UPLOAD_BYTES:
            raise HTTPException(413, f"uploads are limited to {MAX_UPLOAD_BYTES} bytes")
        # file, SQLite and store calls block: keep them off the event loop
        return await run_in_threadpool(start_import, account, filename, body)

    def start_import(account: int, filename: str, body: bytes) -> Job:
        # Never trust a client's file name as a path: keep letters, digits, '.', '-', '_'.
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", filename)[-100:]
        path = upload_dir / f"{account}-{secrets.token_hex(4)}-{safe}"
        path.write_bytes(body)
        upload = uploads.create(account, str(path.resolve()))
        job_id = manager.submit("csv_import", account_id=account, params={"upload_id": upload.id})
        return manager.get(job_id)

    return app


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(create_app(), host="127.0.0.1", port=8000)
