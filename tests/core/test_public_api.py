"""The public surface: what ``threadjobs`` exports, and that it needs no extras."""

from __future__ import annotations

import inspect
import subprocess
import sys

import threadjobs
import threadjobs.stores
import threadjobs.testing


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in vars(threadjobs) if not name.startswith("_")}
    submodules = {"stores", "testing", "ext", "cli"}
    assert set(threadjobs.__all__) == public - submodules
    assert len(threadjobs.__all__) == len(set(threadjobs.__all__))


def test_public_classes_report_the_package_as_their_module() -> None:
    for name in threadjobs.__all__:
        obj = getattr(threadjobs, name)
        if isinstance(obj, type):
            assert obj.__module__ == "threadjobs", name


def test_public_objects_have_docstrings() -> None:
    for module in (threadjobs, threadjobs.stores, threadjobs.testing):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                assert (obj.__doc__ or "").strip(), f"{module.__name__}.{name} has no docstring"


def test_import_works_without_optional_extras() -> None:
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, *a):\n"
        "        if name.split('.')[0] in {'redis', 'sqlalchemy', 'fastapi', 'hypothesis'}:\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import threadjobs, threadjobs.stores, threadjobs.testing\n"
        "m = threadjobs.JobManager(max_workers=0)\n"
        "try:\n"
        "    threadjobs.testing.make_state_machine(lambda: None)\n"
        "except threadjobs.MissingDependency as e:\n"
        "    print('ok', 'hypothesis' in str(e))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok True"
