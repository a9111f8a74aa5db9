"""Cases that keep failing: what `sjukfall cases stuck` shows operations before a patient
notices.

A case is stuck when
- its workflow task keeps failing (a bug or a payload the code cannot read: attempt >= 2),
- one of its activities keeps failing (an append or a delivery failed `min_attempts` times
  or more: the database, a recipient or FK is away), or
- the case itself reports a problem (the `problem` query: a timer's decision the store
  refused, an outcome it could not record).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError

RUNNING_CASES = 'WorkflowType = "Case" AND ExecutionStatus = "Running"'


@dataclass(frozen=True)
class StuckCase:
    case_id: str
    what: str
    since: datetime | None
    attempts: int  # failed so far

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "since": self.since.isoformat() if self.since else None}


async def stuck_cases(client: Client, *, min_attempts: int = 3, limit: int = 10_000
                      ) -> list[StuckCase]:
    found: list[StuckCase] = []
    async for execution in client.list_workflows(RUNNING_CASES, limit=limit):
        found += await _problems_of(client, execution.id, min_attempts)
    return sorted(found, key=lambda s: (s.since is None, s.since or datetime.min, s.case_id))


async def _problems_of(client: Client, workflow_id: str, min_attempts: int) -> list[StuckCase]:
    case_id = workflow_id.removeprefix("case-")
    description = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(namespace=client.namespace,
                                         execution=WorkflowExecution(workflow_id=workflow_id)))
    found = []
    task = description.pending_workflow_task
    # Temporal counts the attempt under way; what failed is one fewer.
    if description.HasField("pending_workflow_task") and task.attempt >= 2:
        found.append(StuckCase(case_id, "workflow task failing",
                               task.original_scheduled_time.ToDatetime(tzinfo=UTC),
                               task.attempt - 1))
    for activity in description.pending_activities:
        if activity.attempt - 1 >= min_attempts:
            reason = activity.last_failure.message or "retrying"
            found.append(StuckCase(case_id, f"{activity.activity_type.name}: {reason[:200]}",
                                   activity.scheduled_time.ToDatetime(tzinfo=UTC),
                                   activity.attempt - 1))
    if not found:  # a failing workflow task cannot answer queries either
        try:
            problem = await client.get_workflow_handle(workflow_id).query("problem")
        except (RPCError, WorkflowQueryFailedError):
            problem = None
        if problem:
            found.append(StuckCase(case_id, str(problem["what"]),
                                   datetime.fromisoformat(problem["since"]),
                                   int(problem["attempts"])))
    return found

