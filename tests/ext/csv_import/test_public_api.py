"""The package's public surface."""

from __future__ import annotations

import threadjobs
import threadjobs.ext.csv_import as csv_import


def test_all_lists_exactly_the_public_names() -> None:
    public = {n for n in dir(csv_import) if not n.startswith("_")} - {"annotations", "inspect"}
    assert set(csv_import.__all__) == public
    assert csv_import.__all__ == sorted(csv_import.__all__, key=lambda n: (not n.isupper(), n))


def test_exported_names_report_the_public_module() -> None:
    assert csv_import.CsvImportHandler.__module__ == "threadjobs.ext.csv_import"
    assert csv_import.import_csv.__module__ == "threadjobs.ext.csv_import"


def test_errors_hang_under_threadjobs_error() -> None:
    for name in csv_import.__all__:
        obj = getattr(csv_import, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, csv_import.CsvImportError)
            assert issubclass(obj, threadjobs.ThreadJobsError)


def test_the_core_does_not_import_the_extension() -> None:
    import subprocess
    import sys

    code = "import sys, threadjobs; print('threadjobs.ext.csv_import' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
