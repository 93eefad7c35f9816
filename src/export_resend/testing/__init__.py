"""Tools for testing code built on export-resend, and adapters written for it.

- ``ManualClock``: a clock that moves when told to.
- ``strategies``: hypothesis strategies for addresses, CC lists, callers and exports.
- ``contracts``: example-based contract suites for each port (pytest classes to subclass).
- ``state_machine``: ``ExportRepositoryMachine``, comparing any export repository with a model.

All but ``ManualClock`` need hypothesis and pytest: ``pip install 'export-resend[testing]'``.
See docs/testing-kit.md.
"""

from export_resend.testing.clock import ManualClock

__all__ = ["ManualClock"]
