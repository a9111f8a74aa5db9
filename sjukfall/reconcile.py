"""Reconcile: do Temporal's workflows and the event record agree on every case?

After a restore (docs/operations.md, "Backup and restore"), a lost Temporal namespace or a bug,
a case's workflow and its stream may disagree. For each case that is open in the record, or
whose workflow is running, this compares the stream's version and phase with the workflow's
(its `current_state` query) and names what is wrong and what to do:

| finding | what it means | what to do |
|---|---|---|
| `ok` | same version; a closed case's workflow has completed | nothing |
| `workflow_missing` | the record has an open case, Temporal no workflow for it | repair: start it |
| `record_ahead` | the record holds events the workflow does not know | repair: restart it from the record |
| `workflow_ahead` | the workflow holds events the record lacks | by hand (`WrongExpectedVersion`) |
| `workflow_ended` | the record's case is open, its workflow ended without closing it | by hand |
| `no_record` | a running workflow for a case the record does not have | by hand |

`--repair` fixes the first two kinds only, since the record is the system of record and a
workflow started from the record's folded state continues exactly where the record is.
Deliveries still pending in the record are started again, and their idempotency keys keep
receivers from seeing them twice. The other kinds need a person: a workflow ahead of the
record decided things the record never got (and may have told someone), so only a person can
say whether to record them (a correcting command) or drop them (`temporal workflow reset` to
the last event the record has).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

ADVICE = {
    "ok": "",
    "workflow_missing": "start the workflow from the record (--repair)",
    "record_ahead": "restart the workflow from the record (--repair)",
    "workflow_ahead": "by hand: the workflow holds events the record lacks; record them with a "
                      "correcting command, or reset the workflow to the record's last event",
    "workflow_ended": "by hand: the workflow ended but the record's case is open; close the case "
                      "or start a workflow from the record",
    "no_record": "by hand: a workflow for a case the record does not have; terminate it if the "
                 "case was never opened",
}
REPAIRABLE = frozenset({"workflow_missing", "record_ahead"})


@dataclass(frozen=True)
class Finding:
    case_id: str
    kind: str
    record_version: int
    workflow_version: int | None
    workflow_status: str
    advice: str
    repaired: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def classify(record_version: int, record_closed: bool, workflow_status: str,
             workflow_version: int | None) -> str:
    """The finding for one case (pure): `workflow_status` is `running`, `missing` or the
    status of an ended workflow (`completed`, `terminated`, `failed`, ...)."""
    if workflow_status == "running":
        assert workflow_version is not None
        if record_version == 0:
            return "no_record"
        if workflow_version > record_version:
            return "workflow_ahead"
        if workflow_version < record_version:
            return "record_ahead"
        return "ok"
    if record_closed:
        return "ok"
    return "workflow_missing" if workflow_status == "missing" else "workflow_ended"


async def reconcile(pool: Any, client: Any, task_queue: str, *, repair: bool = False,
                    progress: Any = None) -> list[Finding]:
    """Every case open in the record or running in Temporal, with its finding."""
    from temporalio.api.enums.v1 import WorkflowExecutionStatus
    from temporalio.service import RPCError, RPCStatusCode

    from api.commands import workflow_id
    from store.operations import case_record_heads
    from workflows.case import CaseWorkflow

    record = await case_record_heads(pool)
    running: set[str] = set()
    async for execution in client.list_workflows(
            "WorkflowType = 'CaseWorkflow' AND ExecutionStatus = 'Running'"):
        if execution.id.startswith("case-"):
            running.add(execution.id.removeprefix("case-"))
    cases = sorted({c for c, (_, closed) in record.items() if not closed} | running)
    findings = []
    for done, case_id in enumerate(cases, 1):
        version, closed = record.get(case_id, (0, False))
        handle = client.get_workflow_handle(workflow_id(case_id))
        status, workflow_version = "missing", None
        try:
            described = await handle.describe()
            status = WorkflowExecutionStatus.Name(
                WorkflowExecutionStatus.ValueType(int(described.status or 0))).removeprefix(
                "WORKFLOW_EXECUTION_STATUS_").lower()
            if status == "running":
                state = await handle.query(CaseWorkflow.current_state)
                workflow_version = state.version
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
        kind = classify(version, closed, status, workflow_version)
        repaired = False
        if repair and kind in REPAIRABLE:
            await restart_from_record(pool, client, task_queue, case_id)
            repaired = True
        findings.append(Finding(case_id, kind, version, workflow_version, status, ADVICE[kind],
                                repaired))
        if progress is not None:
            progress(done, len(cases))
    return findings


async def restart_from_record(pool: Any, client: Any, task_queue: str, case_id: str) -> None:
    """Start the case's workflow from its folded record, ending a running one first."""
    from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

    from api.commands import workflow_id
    from store.queries import folded_case
    from workflows.case import CaseIndex, CaseInput, CaseWorkflow

    state = await folded_case(pool, case_id)
    index = CaseIndex.of(state)
    await client.start_workflow(
        CaseWorkflow.run, CaseInput(case_id=case_id, state=state, indexed=index),
        id=workflow_id(case_id), task_queue=task_queue, search_attributes=index.typed(),
        id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        task_timeout=timedelta(seconds=30),
    )
