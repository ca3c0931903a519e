"""Import eBay seller CSV exports into an application's database, as a job.

Orders, listings, products, customers and messages files are read as a
stream (flat memory), validated row by row with pydantic, grouped (multi-item
orders) and upserted in batches through a :class:`RowSink`::

    from threadjobs import JobManager
    from threadjobs.ext.csv_import import CsvImportHandler, SqliteSink, SqliteUploadStore

    uploads = SqliteUploadStore("shop.db")
    manager = JobManager(max_workers=4)
    manager.register(CsvImportHandler(SqliteSink("shop.db"), uploads))
    upload = uploads.create(7, "eBay-OrdersReport.csv")
    job = manager.wait(manager.submit("csv_import", account_id=7, params={"upload_id": upload.id}))
    print(job.result)

:class:`SqlAlchemySink` and :class:`SqlAlchemyUploadStore` need the
``sqlalchemy`` extra (``pip install 'threadjobs[sqlalchemy]'``).
"""

from __future__ import annotations

import inspect

from ._errors import CsvImportError as CsvImportError
from ._errors import EncodingError as EncodingError
from ._errors import RecordsRejected as RecordsRejected
from ._errors import UnreadableCsv as UnreadableCsv
from ._errors import UnrecognisedHeader as UnrecognisedHeader
from ._errors import UploadAccessDenied as UploadAccessDenied
from ._errors import UploadFileMissing as UploadFileMissing
from ._errors import UploadNotFound as UploadNotFound
from ._handler import CsvImportHandler as CsvImportHandler
from ._handler import CsvImportParams as CsvImportParams
from ._models import CustomerRow as CustomerRow
from ._models import ListingRow as ListingRow
from ._models import MessageRow as MessageRow
from ._models import OrderRow as OrderRow
from ._models import ProductRow as ProductRow
from ._pipeline import BatchDone as BatchDone
from ._pipeline import CsvImport as CsvImport
from ._pipeline import import_csv as import_csv
from ._reader import CsvReader as CsvReader
from ._report import ImportReport as ImportReport
from ._report import RowError as RowError
from ._sinks import Outcome as Outcome
from ._sinks import RowSink as RowSink
from ._sinks import SinkSession as SinkSession
from ._sinks import Upload as Upload
from ._sinks import UploadChanges as UploadChanges
from ._sinks import UploadStatus as UploadStatus
from ._sinks import UploadStore as UploadStore
from ._sqlalchemy import SqlAlchemySink as SqlAlchemySink
from ._sqlalchemy import SqlAlchemyUploadStore as SqlAlchemyUploadStore
from ._sqlite import SqliteSink as SqliteSink
from ._sqlite import SqliteUploadStore as SqliteUploadStore
from ._tables import TABLES as TABLES
from ._tables import Record as Record
from ._types import CsvType as CsvType
from ._values import Money as Money

__all__ = [
    "TABLES",
    "BatchDone",
    "CsvImport",
    "CsvImportError",
    "CsvImportHandler",
    "CsvImportParams",
    "CsvReader",
    "CsvType",
    "CustomerRow",
    "EncodingError",
    "ImportReport",
    "ListingRow",
    "MessageRow",
    "Money",
    "OrderRow",
    "Outcome",
    "ProductRow",
    "Record",
    "RecordsRejected",
    "RowError",
    "RowSink",
    "SinkSession",
    "SqlAlchemySink",
    "SqlAlchemyUploadStore",
    "SqliteSink",
    "SqliteUploadStore",
    "UnreadableCsv",
    "UnrecognisedHeader",
    "Upload",
    "UploadAccessDenied",
    "UploadChanges",
    "UploadFileMissing",
    "UploadNotFound",
    "UploadStatus",
    "UploadStore",
    "import_csv",
]

# Exported names show as threadjobs.ext.csv_import.X in reprs, tracebacks and docs.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) or inspect.isfunction(_obj):
        _obj.__module__ = __name__
del _name, _obj
