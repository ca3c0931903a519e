"""Every runnable example in examples/ runs to completion and says what it should."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# example -> (arguments, text its output must contain)
RUNS: dict[str, tuple[list[str], list[str]]] = {
    "csv_import_demo.py": (
        ["--rows", "3000"],
        ["generated eBay-OrdersReport-demo.csv: 3000 rows", ": completed", "errors by reason:"],
    ),
    "quickstart.py": (
        [],
        [
            "report A  completed",
            "report B  cancelled",
            "upload    completed  attempts=2",
            "runaway   failed",
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_example_runs(name: str, tmp_path: Path) -> None:
    args, expected = RUNS[name]
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    for text in expected:
        assert text in done.stdout, f"{text!r} not in output:\n{done.stdout[-2000:]}"
