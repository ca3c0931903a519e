"""Import an application's handlers for ``threadjobs worker --handlers SPEC``.

``SPEC`` is ``package.module`` or ``package.module:attribute``. The attribute (or,
without one, the module's ``register`` function, else its ``HANDLERS``) may be:

* a function taking the ``JobManager``, which registers the handlers itself;
* a :class:`~threadjobs.Handler` instance, or a subclass that takes no arguments;
* a list or tuple of those.

The current directory is importable, as for ``python -m``, so a worker started in the
project's directory finds the project's modules.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from threadjobs import ConfigurationError, Handler, JobManager

from ._common import CliError, ExitCode

__all__ = ["load_handlers"]


def load_handlers(spec: str, manager: JobManager) -> None:
    """Register the handlers ``spec`` names on ``manager``.

    Raises:
        CliError: the module or attribute does not exist, holds no handlers, or fails.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or (":" in spec and not attribute):
        raise CliError(f"--handlers {spec!r}: use module.path or module.path:attribute")
    module = _import(module_name)
    if attribute:
        target = getattr(module, attribute, None)
        if target is None:
            raise CliError(f"--handlers {spec!r}: module {module_name!r} has no {attribute!r}")
    else:
        target = getattr(module, "register", None) or getattr(module, "HANDLERS", None)
        if target is None:
            raise CliError(
                f"--handlers {spec!r}: the module has neither a register(manager) function "
                "nor a HANDLERS list; name one as module:attribute"
            )
    try:
        _apply(target, manager, spec)
    except ConfigurationError as exc:
        raise CliError(f"--handlers {spec!r}: {exc}") from None


def _import(module_name: str) -> Any:
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        if module_name == missing or module_name.startswith(missing + "."):
            raise CliError(
                f"cannot import handlers module {module_name!r}: no module named {missing!r}",
                hint="run the worker from your project's directory, or set PYTHONPATH",
            ) from None
        raise CliError(
            f"importing {module_name!r} failed: {exc}", hint="is a dependency not installed?"
        ) from None
    except Exception as exc:  # the application's module is broken: report, don't dump
        raise CliError(
            f"importing {module_name!r} failed: {type(exc).__name__}: {exc}",
            ExitCode.INTERNAL,
            hint="set THREADJOBS_DEBUG=1 to see the traceback",
        ) from exc


def _apply(target: object, manager: JobManager, spec: str) -> None:
    if isinstance(target, Handler):
        manager.register(target)
    elif isinstance(target, type) and issubclass(target, Handler):
        try:
            manager.register(target())
        except TypeError as exc:
            raise CliError(
                f"--handlers {spec!r}: cannot create {target.__name__}() without arguments "
                f"({exc}); expose an instance or a register(manager) function"
            ) from None
    elif isinstance(target, (list, tuple)):
        for item in target:
            _apply(item, manager, spec)
    elif callable(target):
        target(manager)
    else:
        raise CliError(
            f"--handlers {spec!r}: {type(target).__name__} is neither a Handler, a list of "
            "handlers nor a register(manager) function"
        )
