"""Sending a command to a case workflow, and turning Temporal's answers into HTTP problems.

The `Idempotency-Key` header becomes the Temporal update id: a repeated request with the same
key is answered with the first request's result and records nothing new.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.problems import Problem, refusal
from domain import Command, DomainError, decide, fold, initial_state
from domain.commands import OpenCase
from infra.logs import get_logger
from workflows.case import KEY_PREFIX, CaseIndex, CaseInput, CaseWorkflow, CommandResult

log = get_logger(__name__)

def update_id(request: Request, subject: str, case_id: str, key: str | None,
              command: Command) -> str | None:
    """The Temporal update id for a client's Idempotency-Key (workflows/case.py, KEY_PREFIX).

    The key is scoped to who sent it, the method, the route template and the case, so two
    callers, two routes or two cases never share one; the fingerprint is the command itself
    less who sent it and what the server looked up (the rehabilitation chain link, which may
    have changed between a request and its retry), so the same key with another body is told
    apart and refused. Nothing a
    client sends can produce an id outside this namespace (FK's own are `fk-<message id>`).
    """
    if key is None:
        return None
    route = request.scope.get("route")
    template = getattr(route, "path", request.url.path)
    scope = _hash(f"{subject}\n{request.method}\n{template}\n{case_id}\n{key}")
    fingerprint = _hash(command.model_dump_json(exclude={"actor", "rehab_chain"}))
    return f"{KEY_PREFIX}{scope}:{fingerprint}"


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def workflow_id(case_id: str) -> str:
    return f"case-{case_id}"


def domain_problem(err: DomainError | ApplicationError) -> Problem:
    """A domain refusal, raised here or in the workflow (which sends field and rule along)."""
    if isinstance(err, DomainError):
        return refusal(err.field, err.rule, err.message)
    details: dict[str, Any] = err.details[0] if err.details else {}
    return refusal(details.get("field", "body"), details.get("rule", "rejected"), err.message)


async def _translate(client: Client, err: Exception, case_id: str) -> Problem:
    if isinstance(err, WorkflowUpdateFailedError):
        cause: BaseException | None = err.cause
        while cause is not None and not isinstance(cause, ApplicationError):
            cause = cause.__cause__
        if isinstance(cause, ApplicationError) and cause.type == "DomainError":
            return domain_problem(cause)
        log.warning("command_not_recorded", case_id=case_id, cause=repr(err.cause)[:300])
        return Problem(503, "the case could not record the command; retry with the same Idempotency-Key")
    if isinstance(err, RPCError):
        if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.ALREADY_EXISTS):
            # Not running: either it never existed, or it completed because the case closed.
            try:
                await client.workflow_service.describe_workflow_execution(
                    DescribeWorkflowExecutionRequest(
                        namespace=client.namespace,
                        execution=WorkflowExecution(workflow_id=workflow_id(case_id)),
                    )
                )
            except RPCError:
                return Problem(404, f"no case {case_id}")
            return refusal("case_id", "case_closed", "the case is closed",
                           detail=f"case {case_id} is closed")
        log.warning("workflow_service_error", case_id=case_id, status=err.status.name,
                    message=err.message[:300])
        return Problem(503, f"the workflow service did not answer: {err.status.name}")
    raise err


async def open_case(client: Client, task_queue: str, command: OpenCase,
                    idempotency_key: str | None) -> CommandResult:
    """Start the case workflow and open the case in one request (update-with-start).

    USE_EXISTING makes a repeated open reach the same workflow; REJECT_DUPLICATE keeps a
    closed case's id from ever starting a second workflow.
    """
    # Found in the Temporal UI from the start: search attributes set at start cost no action.
    index = CaseIndex.of(fold(decide(command, initial_state(command.case_id), datetime.now(UTC))))
    start = WithStartWorkflowOperation(
        CaseWorkflow.run,
        CaseInput(case_id=command.case_id, indexed=index),
        search_attributes=index.typed(),
        id=workflow_id(command.case_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        task_timeout=timedelta(seconds=30),
    )
    try:
        result: CommandResult = await client.execute_update_with_start_workflow(
            CaseWorkflow.execute, command, start_workflow_operation=start, id=idempotency_key,
        )
        return result
    except (WorkflowUpdateFailedError, RPCError) as err:
        raise await _translate(client, err, command.case_id) from None


async def send_command(client: Client, case_id: str, command: Command,
                       idempotency_key: str | None) -> CommandResult:
    handle = client.get_workflow_handle(workflow_id(case_id))
    try:
        result: CommandResult = await handle.execute_update(
            CaseWorkflow.execute, command, id=idempotency_key
        )
        return result
    except (WorkflowUpdateFailedError, RPCError) as err:
        raise await _translate(client, err, case_id) from None
