"""The complete code examples in the README and the docs run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# (file, index of the ```python block): blocks that are whole programs, not fragments
RUNNABLE = [("README.md", 0), ("docs/concepts.md", 0)]


@pytest.mark.parametrize(("name", "index"), RUNNABLE)
def test_doc_example_runs(name: str, index: int, capsys: pytest.CaptureFixture[str]) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / name).read_text(), re.S)
    # an elided body ("...") stands for the reader's own code
    code = re.sub(r"^(\s*)\.\.\.$", r"\1pass", blocks[index], flags=re.M)
    exec(compile(code, f"{name}[{index}]", "exec"), {"__name__": "__doc_example__"})
