"""The case-worker harness of the workflow tests (time-skipping server, real event store,
real webhook receiver), reused for metrics and traces."""

from tests.workflows.conftest import fk, harness, receiver, store  # noqa: F401  (fixtures)
