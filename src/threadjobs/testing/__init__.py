"""Tools to test job stores and handlers; pytest is not required.

* :func:`check_store` runs the store conformance suite (the contract every
  :class:`~threadjobs.JobStore` must meet) against fresh stores from a factory.
* :func:`iter_checks` yields the same checks one by one, for one test per check.
* :func:`make_state_machine` builds a hypothesis state machine that drives a store with
  random operations and checks its invariants (needs hypothesis).
"""

from __future__ import annotations

from ._conformance import CHECKS as CHECKS
from ._conformance import StoreFactory as StoreFactory
from ._conformance import check_store as check_store
from ._conformance import iter_checks as iter_checks
from ._conformance import new_job as new_job
from ._state_machine import make_state_machine as make_state_machine

__all__ = ["CHECKS", "StoreFactory", "check_store", "iter_checks", "make_state_machine", "new_job"]
