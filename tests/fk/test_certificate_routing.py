"""FK routing cannot cross patients or units (issue #15, finding 6): a certificate id belongs to
one case, and FK's message is matched by certificate id and identity number together."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx

from domain import decide, initial_state
from domain.commands import OpenCase
from store.sample_cases import to_new_events
from tests.fk.conftest import FkStack
from tests.fk.support import PNR, case_with_certificate, records
from tests.workflows.support import PHYSICIAN, certificate

OTHER = "198112189876"


async def fk_sends(stack: FkStack, cid: str, patient: str) -> dict:  # type: ignore[type-arg]
    async with httpx.AsyncClient(timeout=30) as http:
        [answer] = (await http.post(f"{stack.fk.url}/control/send", json={
            "kind": "KONTKT", "certificate_id": cid, "patient_id": patient})).json()
    return dict(answer)


async def test_a_certificate_id_belongs_to_one_case(stack: FkStack) -> None:
    case_id, cid, start = await case_with_certificate(stack)
    south = stack.headers("physician", ("vc-syd",))
    opened = await stack.http.post("/cases", headers=south, json={
        "patient_id": OTHER, "unit_id": "vc-syd", "sick_period_start": str(start)})
    assert opened.status_code == 201, opened.text
    other = opened.json()["case_id"]
    stack.cases.append(other)
    cert = certificate(start, 1, 10, cid=cid).model_dump(mode="json")
    again = await stack.http.post(f"/cases/{other}/certificates", headers=south,
                                  json={"certificate": cert})
    assert again.status_code == 409, again.text
    assert again.json()["errors"][0]["rule"] == "certificate_in_other_case"
    assert case_id not in again.text  # the other case is not named
    with_cert = await stack.http.post("/cases", headers=south, json={
        "patient_id": OTHER, "unit_id": "vc-syd", "sick_period_start": str(start),
        "certificate": cert})
    assert with_cert.status_code == 409, with_cert.text
    # The case that holds it may still record a certificate of its own.
    fresh = certificate(start, 11, 20, cid=f"intyg-{uuid.uuid4().hex[:8]}").model_dump(mode="json")
    own = await stack.http.post(f"/cases/{case_id}/certificates", headers=stack.headers(),
                                json={"certificate": fresh})
    assert own.status_code == 200, own.text


async def test_fks_message_reaches_the_patients_case_even_if_an_id_was_reused(
        stack: FkStack) -> None:
    case_id, cid, start = await case_with_certificate(stack)
    # Another unit's case for another patient that recorded the same id later (written before
    # the API refused that): the newest recording must not take the message.
    intruder = f"legacy-{uuid.uuid4().hex[:8]}"
    actor = PHYSICIAN.model_copy(update={"unit_id": "vc-syd"})
    events = decide(OpenCase(actor=actor, case_id=intruder, patient_id=OTHER, unit_id="vc-syd",
                             sick_period_start=start, certificate=certificate(start, 1, 10, cid=cid)),
                    initial_state(intruder), datetime.now(UTC))
    await stack.store.append(intruder, 0, to_new_events(events))

    answer = await fk_sends(stack, cid, PNR)
    assert (answer["status"], answer["result"]["result_code"]) == (200, "OK"), answer
    assert len(await records(stack, case_id, "FkMessageReceived")) == 1  # type: ignore[arg-type]
    assert await records(stack, intruder, "FkMessageReceived") == []  # type: ignore[arg-type]

    # The id with the other patient's number finds no case of ours that FK may write to.
    refused = await fk_sends(stack, cid, "194107086995")
    assert refused["status"] == 422
    assert "not known to this care provider for this patient" in refused["result"]["result_text"]
