"""``python -m threadjobs.cli``: the same as the ``threadjobs`` command."""

from __future__ import annotations

from . import main

raise SystemExit(main())
