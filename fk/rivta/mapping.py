"""The contract messages as XML and back: the same pydantic models the JSON transport uses
(fk/schemas.py), so the domain's checks on a value hold on either wire.

Every `*_xml` function builds the contract's request element; every `read_*` validates one
against its schema, then reads it into the model (RivtaError: the schema or the model said
no, with the element and the rule). Times are Swedish local time without offset, as the
national platform writes them; a time that carries an offset is converted.

LISJP (FK7804) as RegisterCertificate v3, the FK question ids (svar/delsvar) used:
- 28 occupation, one instans each: 28.1 code (KV_FKMU_0002)
- 6 diagnoses, one instans each: 6.2 ICD-10-SE code, 6.1 description
- 35 function impairment: 35.1 text; 17 activity limitation: 17.1 text
- 32 sick-leave periods, one instans each: 32.1 grade (KV_FKMU_0003: EN_FJARDEDEL, HALFTEN,
  TRE_FJARDEDEL, HELT_NEDSATT) and 32.2 date period
- 39 prognosis: 39.1 code (KV_FKMU_0006), 39.3 days (KV_FKMU_0007) with ATER_X_ANTAL_DGR
- 40 work measures, one instans each: 40.1 code (KV_FKMU_0004)
- 26 contact with FK desired: 26.1 true/false
- 25 other: 25.1 carries the motivation for a sick leave that starts more than 7 days before
  the certificate, as Webcert does (LISJP has no question of its own for it)
Questions the domain does not record (1 basis for the certificate, 29 current work, 33, 34,
37) are not sent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from lxml import etree
from pydantic import BaseModel, ValidationError

from domain.calendar import STOCKHOLM
from domain.identity import is_coordination_number
from fk.rivta.soap import (
    CORE,
    REGISTER_CERTIFICATE,
    REVOKE_CERTIFICATE,
    SEND_MESSAGE_TO_CARE,
    SEND_MESSAGE_TO_RECIPIENT,
    TYPES,
    Contract,
    RivtaError,
    validate,
)
from fk.schemas import (
    RegisterCertificate,
    RevokeCertificate,
    SendMessageToCare,
    SendMessageToRecipient,
)

# Identifier roots and code systems (OIDs / KV_ names as Inera's code-system lists publish them).
PERSONNUMMER = "1.2.752.129.2.1.3.1"
SAMORDNINGSNUMMER = "1.2.752.129.2.1.3.3"
HSA_ID = "1.2.752.129.2.1.4.1"
ICD_10_SE = "1.2.752.116.1.1.1.1.3"
KV_INTYGSTYP = "b64ea353-e8f6-4832-b563-fc7d46f29548"
KV_ARENDETYP = "ffa59d8f-8d7e-46ae-ac9e-31804e8e8499"
KV_PART = "769bb12b-bd9f-4203-a5cd-fd14f2eb3b80"
KV_RELATION = "c2362fcd-eda0-4f9a-bd13-b3bbaf7f2146"
KV_SYSSELSATTNING = "KV_FKMU_0002"
KV_GRAD = "KV_FKMU_0003"
KV_ATGARDER = "KV_FKMU_0004"
KV_PROGNOS = "KV_FKMU_0006"
KV_PROGNOS_DAGAR = "KV_FKMU_0007"
LISJP = "LISJP"
LISJP_VERSION = "1.0"

GRADE_CODES = {25: "EN_FJARDEDEL", 50: "HALFTEN", 75: "TRE_FJARDEDEL", 100: "HELT_NEDSATT"}
GRADE_NAMES = {
    "EN_FJARDEDEL": "En fjärdedel",
    "HALFTEN": "Hälften",
    "TRE_FJARDEDEL": "Tre fjärdedelar",
    "HELT_NEDSATT": "Helt nedsatt",
}
DAYS_CODES = {
    30: "TRETTIO_DGR",
    60: "SEXTIO_DGR",
    90: "NITTIO_DGR",
    180: "HUNDRAATTIO_DAGAR",
    365: "TRESHUNDRASEXTIOFEM_DAGAR",
}
MOTIVATION = "Motivering till tidigt startdatum: "

# The model's field for each element, so a refusal names what the sender wrote.
ELEMENT_OF_FIELD = {
    "message_id": "meddelande-id",
    "reference_id": "referens-id",
    "sent_at": "skickatTidpunkt",
    "certificate_id": "intygs-id",
    "patient_id": "patientPerson-id",
    "topic": "amne",
    "heading": "rubrik",
    "text": "meddelande",
    "reminder_of": "paminnelseMeddelande-id",
    "answer_to": "svarPa",
    "completion_items": "komplettering",
    "last_answer_date": "sistaDatumForSvar",
    "periods": "svar[32]",
    "diagnoses": "svar[6]",
    "prognosis": "svar[39]",
}


# --- building ------------------------------------------------------------------------------


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, tag)
    if text is not None:
        child.text = text
    return child


def _ii(parent: etree._Element, tag: str, root: str, extension: str) -> etree._Element:
    holder = _sub(parent, tag)
    _sub(holder, f"{{{TYPES}}}root", root)
    _sub(holder, f"{{{TYPES}}}extension", extension)
    return holder


def _cv(
    parent: etree._Element, tag: str, code: str, system: str, name: str | None = None
) -> etree._Element:
    holder = _sub(parent, tag)
    _sub(holder, f"{{{TYPES}}}code", code)
    _sub(holder, f"{{{TYPES}}}codeSystem", system)
    if name:
        _sub(holder, f"{{{TYPES}}}displayName", name)
    return holder


def _person(parent: etree._Element, tag: str, pnr: str) -> None:
    root = SAMORDNINGSNUMMER if is_coordination_number(pnr) else PERSONNUMMER
    _ii(parent, tag, root, pnr)


def _time(value: datetime) -> str:
    return value.astimezone(STOCKHOLM).replace(tzinfo=None).isoformat(timespec="seconds")


def _root(contract: Contract) -> etree._Element:
    return etree.Element(
        contract.q(contract.name),
        nsmap={None: contract.namespace, "core": CORE, "types": TYPES},
    )


def hos_personal(
    parent: etree._Element,
    tag: str,
    person_id: str,
    unit_id: str,
    provider_id: str,
    provider_name: str,
    name: str | None = None,
) -> None:
    """HoS-personal: who (HSA-id; the name is the id while no HSA catalogue is wired in), at
    which care unit of which care provider."""
    holder = _sub(parent, tag)
    _ii(holder, f"{{{CORE}}}personal-id", HSA_ID, person_id)
    _sub(holder, f"{{{CORE}}}fullstandigtNamn", name or person_id)
    unit = _sub(holder, f"{{{CORE}}}enhet")
    _ii(unit, f"{{{CORE}}}enhets-id", HSA_ID, unit_id)
    _sub(unit, f"{{{CORE}}}enhetsnamn", unit_id)
    provider = _sub(unit, f"{{{CORE}}}vardgivare")
    _ii(provider, f"{{{CORE}}}vardgivare-id", HSA_ID, provider_id)
    _sub(provider, f"{{{CORE}}}vardgivarnamn", provider_name)


def _message_head(contract: Contract, message: Any, recipient: str) -> etree._Element:
    """The elements SendMessageToCare and SendMessageToRecipient share, up to svarPa."""
    q = contract.q
    root = _root(contract)
    _sub(root, q("meddelande-id"), message.message_id)
    if message.reference_id:
        _sub(root, q("referens-id"), message.reference_id)
    _sub(root, q("skickatTidpunkt"), _time(message.sent_at))
    _ii(root, q("intygs-id"), "", message.certificate_id)
    _person(root, q("patientPerson-id"), message.patient_id)
    _sub(root, q("logiskAdressMottagare"), recipient)
    _cv(root, q("amne"), message.topic, KV_ARENDETYP)
    if message.heading:
        _sub(root, q("rubrik"), message.heading)
    _sub(root, q("meddelande"), message.text)
    if message.reminder_of:
        _sub(root, q("paminnelseMeddelande-id"), message.reminder_of)
    if message.answer_to is not None:
        answer = _sub(root, q("svarPa"))
        _sub(answer, f"{{{CORE}}}meddelande-id", message.answer_to.message_id)
        if message.answer_to.reference_id:
            _sub(answer, f"{{{CORE}}}referens-id", message.answer_to.reference_id)
    return root


def send_message_to_care_xml(message: SendMessageToCare, recipient: str) -> etree._Element:
    """FK's message to care (built by the simulator; FK's side of the contract)."""
    q = SEND_MESSAGE_TO_CARE.q
    root = _message_head(SEND_MESSAGE_TO_CARE, message, recipient)
    sender = _sub(root, q("skickatAv"))
    _cv(sender, q("part"), message.sender or "FKASSA", KV_PART)
    if message.contact_info:
        _sub(sender, q("kontaktInfo"), message.contact_info)
    for item in message.completion_items:
        holder = _sub(root, q("komplettering"))
        _sub(holder, q("frage-id"), item.question_id)
        if item.instance is not None:
            _sub(holder, q("instans"), str(item.instance))
        _sub(holder, q("text"), item.text)
    if message.last_answer_date is not None:
        _sub(root, q("sistaDatumForSvar"), message.last_answer_date.isoformat())
    return root


def send_message_to_recipient_xml(
    message: SendMessageToRecipient, recipient: str, provider_id: str, provider_name: str
) -> etree._Element:
    """Care's question or answer to FK, sent by the care professional at the case's unit."""
    root = _message_head(SEND_MESSAGE_TO_RECIPIENT, message, recipient)
    hos_personal(
        root,
        SEND_MESSAGE_TO_RECIPIENT.q("skickatAv"),
        message.sent_by or message.sender,
        message.sender,
        provider_id,
        provider_name,
    )
    return root


def _svar(
    intyg: etree._Element, question: str, instance: int | None = None
) -> Callable[..., etree._Element]:
    """A `svar` for the question; returns a function adding one delsvar to it."""
    svar = _sub(intyg, f"{{{CORE}}}svar")
    svar.set("id", question)
    if instance is not None:
        _sub(svar, f"{{{CORE}}}instans", str(instance))

    def delsvar(sub_id: str, text: str | None = None) -> etree._Element:
        part = _sub(svar, f"{{{CORE}}}delsvar", text)
        part.set("id", sub_id)
        return part

    return delsvar


def register_certificate_xml(
    cert: RegisterCertificate, provider_id: str, provider_name: str
) -> etree._Element:
    """The FK7804 as a LISJP RegisterCertificate (question ids in the module docstring)."""
    root = _root(REGISTER_CERTIFICATE)
    intyg = _sub(root, REGISTER_CERTIFICATE.q("intyg"))
    c = f"{{{CORE}}}"
    _ii(intyg, c + "intygs-id", cert.care_unit_id, cert.certificate_id)
    _cv(intyg, c + "typ", LISJP, KV_INTYGSTYP, "Läkarintyg för sjukpenning")
    _sub(intyg, c + "version", LISJP_VERSION)
    _sub(intyg, c + "signeringstidpunkt", _time(cert.issued_at))
    _sub(intyg, c + "skickatTidpunkt", _time(cert.issued_at))
    patient = _sub(intyg, c + "patient")
    _person(patient, c + "person-id", cert.patient_id)
    for tag in ("fornamn", "efternamn", "postadress", "postnummer", "postort"):
        _sub(patient, c + tag, "")  # FK reads the population register by identity number
    hos_personal(
        intyg, c + "skapadAv", cert.issued_by, cert.care_unit_id, provider_id, provider_name
    )
    if cert.relation is not None:
        relation = _sub(intyg, c + "relation")
        _cv(relation, c + "typ", cert.relation.kind, KV_RELATION)
        _ii(relation, c + "intygs-id", cert.care_unit_id, cert.relation.certificate_id)
    for i, occupation in enumerate(cert.occupations, 1):
        _cv(_svar(intyg, "28", i)("28.1"), f"{{{TYPES}}}cv", occupation, KV_SYSSELSATTNING)
    for i, diagnosis in enumerate(cert.diagnoses, 1):
        delsvar = _svar(intyg, "6", i)
        _cv(delsvar("6.2"), f"{{{TYPES}}}cv", diagnosis.code, ICD_10_SE)
        if diagnosis.description:
            delsvar("6.1", diagnosis.description)
    if cert.function_impairment:
        _svar(intyg, "35")("35.1", cert.function_impairment)
    if cert.activity_limitation:
        _svar(intyg, "17")("17.1", cert.activity_limitation)
    for i, period in enumerate(sorted(cert.periods, key=lambda p: p.start), 1):
        delsvar = _svar(intyg, "32", i)
        code = GRADE_CODES[period.grade]
        _cv(delsvar("32.1"), f"{{{TYPES}}}cv", code, KV_GRAD, GRADE_NAMES[code])
        span = _sub(delsvar("32.2"), f"{{{TYPES}}}datePeriod")
        _sub(span, f"{{{TYPES}}}start", period.start.isoformat())
        _sub(span, f"{{{TYPES}}}end", period.end.isoformat())
    if cert.prognosis is not None:
        delsvar = _svar(intyg, "39")
        _cv(delsvar("39.1"), f"{{{TYPES}}}cv", cert.prognosis.kind, KV_PROGNOS)
        if cert.prognosis.days is not None:
            _cv(
                delsvar("39.3"), f"{{{TYPES}}}cv", DAYS_CODES[cert.prognosis.days], KV_PROGNOS_DAGAR
            )
    for i, measure in enumerate(cert.work_measures, 1):
        _cv(_svar(intyg, "40", i)("40.1"), f"{{{TYPES}}}cv", measure, KV_ATGARDER)
    _svar(intyg, "26")("26.1", "true" if cert.contact_with_fk_desired else "false")
    if cert.motivation_early_start:
        _svar(intyg, "25")("25.1", MOTIVATION + cert.motivation_early_start)
    return root


def revoke_certificate_xml(
    revocation: RevokeCertificate, provider_id: str, provider_name: str
) -> etree._Element:
    q = REVOKE_CERTIFICATE.q
    root = _root(REVOKE_CERTIFICATE)
    _ii(root, q("intygs-id"), revocation.care_unit_id, revocation.certificate_id)
    _sub(root, q("skickatTidpunkt"), _time(revocation.revoked_at))
    _person(root, q("patientPerson-id"), revocation.patient_id)
    hos_personal(
        root,
        q("skickatAv"),
        revocation.revoked_by,
        revocation.care_unit_id,
        provider_id,
        provider_name,
    )
    if revocation.reason:
        _sub(root, q("meddelande"), revocation.reason)
    return root


# --- reading -------------------------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)


def _model(model: type[M], data: dict[str, Any]) -> M:
    """The model, or RivtaError naming the element (not the Python field) and the rule."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            path = [ELEMENT_OF_FIELD.get(str(p), str(p)) for p in e["loc"]]
            problems.append(f"{'/'.join(path) or 'message'}: {e['msg']}")
        raise RivtaError("; ".join(problems)) from None


def _local_time(text: str | None) -> datetime | str | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return text  # the model names it
    return value if value.tzinfo else value.replace(tzinfo=STOCKHOLM)


def _text(element: etree._Element, path: str, ns: dict[str, str]) -> str | None:
    value = element.findtext(path, namespaces=ns)
    return value.strip() if value is not None else None


def _ns(contract: Contract) -> dict[str, str]:
    return {"m": contract.namespace, "core": CORE, "types": TYPES}


def _message_fields(contract: Contract, root: etree._Element) -> dict[str, Any]:
    ns = _ns(contract)

    def t(path: str) -> str | None:
        return _text(root, path, ns)

    answer_to = None
    if root.find("m:svarPa", ns) is not None:
        answer_to = {
            "message_id": t("m:svarPa/core:meddelande-id"),
            "reference_id": t("m:svarPa/core:referens-id"),
        }
    return {
        "message_id": t("m:meddelande-id"),
        "reference_id": t("m:referens-id"),
        "sent_at": _local_time(t("m:skickatTidpunkt")),
        "certificate_id": t("m:intygs-id/types:extension"),
        "patient_id": t("m:patientPerson-id/types:extension"),
        "topic": t("m:amne/types:code"),
        "heading": t("m:rubrik") or "",
        "text": root.findtext("m:meddelande", namespaces=ns) or "",
        "reminder_of": t("m:paminnelseMeddelande-id"),
        "answer_to": answer_to,
    }


def recipient_of(contract: Contract, root: etree._Element) -> str:
    """`logiskAdressMottagare` of a message."""
    return _text(root, "m:logiskAdressMottagare", _ns(contract)) or ""


def _expect(contract: Contract, root: etree._Element) -> None:
    if root.tag != contract.q(contract.name):
        raise RivtaError(
            f"expected {contract.name} in {contract.namespace}, got {etree.QName(root).text}"
        )
    validate(contract, root)


def read_send_message_to_care(root: etree._Element) -> SendMessageToCare:
    _expect(SEND_MESSAGE_TO_CARE, root)
    ns = _ns(SEND_MESSAGE_TO_CARE)
    fields = _message_fields(SEND_MESSAGE_TO_CARE, root)
    contact = [c.text or "" for c in root.findall("m:skickatAv/m:kontaktInfo", ns)]
    items = [
        {
            "question_id": _text(item, "m:frage-id", ns),
            "instance": _text(item, "m:instans", ns),
            "text": item.findtext("m:text", namespaces=ns) or "",
        }
        for item in root.findall("m:komplettering", ns)
    ]
    fields |= {
        "sender": _text(root, "m:skickatAv/m:part/types:code", ns) or "",
        "contact_info": "; ".join(contact) or None,
        "completion_items": items,
        "last_answer_date": _text(root, "m:sistaDatumForSvar", ns),
    }
    return _model(SendMessageToCare, fields)


def read_send_message_to_recipient(root: etree._Element) -> SendMessageToRecipient:
    _expect(SEND_MESSAGE_TO_RECIPIENT, root)
    ns = _ns(SEND_MESSAGE_TO_RECIPIENT)
    fields = _message_fields(SEND_MESSAGE_TO_RECIPIENT, root)
    fields |= {
        "sender": _text(root, "m:skickatAv/core:enhet/core:enhets-id/types:extension", ns),
        "sent_by": _text(root, "m:skickatAv/core:personal-id/types:extension", ns),
    }
    return _model(SendMessageToRecipient, fields)


def read_revoke_certificate(root: etree._Element) -> RevokeCertificate:
    _expect(REVOKE_CERTIFICATE, root)
    ns = _ns(REVOKE_CERTIFICATE)

    def t(path: str) -> str | None:
        return _text(root, path, ns)

    return _model(
        RevokeCertificate,
        {
            "certificate_id": t("m:intygs-id/types:extension"),
            "patient_id": t("m:patientPerson-id/types:extension"),
            "care_unit_id": t("m:skickatAv/core:enhet/core:enhets-id/types:extension"),
            "revoked_by": t("m:skickatAv/core:personal-id/types:extension"),
            "revoked_at": _local_time(t("m:skickatTidpunkt")),
            "reason": t("m:meddelande") or "",
        },
    )


def read_register_certificate(root: etree._Element) -> RegisterCertificate:
    """A LISJP back into the FK7804 model (what FK understood: the simulator's side)."""
    _expect(REGISTER_CERTIFICATE, root)
    ns = _ns(REGISTER_CERTIFICATE)
    intyg = root.find("m:intyg", ns)
    assert intyg is not None  # the schema requires it

    def t(path: str) -> str | None:
        return _text(intyg, path, ns)

    if t("core:typ/types:code") != LISJP:
        raise RivtaError(f"intyg/typ: only {LISJP} (FK7804) is received here")
    answers: dict[str, list[dict[str, etree._Element]]] = {}
    for svar in intyg.findall("core:svar", ns):
        parts = {d.get("id", ""): d for d in svar.findall("core:delsvar", ns)}
        answers.setdefault(svar.get("id", ""), []).append(parts)

    def code(part: etree._Element | None) -> str | None:
        return _text(part, "types:cv/types:code", ns) if part is not None else None

    def text(question: str, sub: str) -> str:
        parts = answers.get(question, [{}])[0].get(sub)
        return (parts.text or "") if parts is not None else ""

    periods = []
    for parts in answers.get("32", []):
        grade = next((g for g, c in GRADE_CODES.items() if c == code(parts.get("32.1"))), None)
        span = parts.get("32.2")
        periods.append(
            {
                "grade": grade if grade is not None else code(parts.get("32.1")),
                "start": _text(span, "types:datePeriod/types:start", ns)
                if span is not None
                else None,
                "end": _text(span, "types:datePeriod/types:end", ns) if span is not None else None,
            }
        )
    prognosis = None
    if "39" in answers:
        parts = answers["39"][0]
        days = code(parts.get("39.3"))
        prognosis = {
            "kind": code(parts.get("39.1")),
            "days": next((d for d, c in DAYS_CODES.items() if c == days), days),
        }
    relation = None
    if intyg.find("core:relation", ns) is not None:
        relation = {
            "kind": t("core:relation/core:typ/types:code"),
            "certificate_id": t("core:relation/core:intygs-id/types:extension"),
        }
    motivation = text("25", "25.1")
    return _model(
        RegisterCertificate,
        {
            "certificate_id": t("core:intygs-id/types:extension"),
            "issued_at": _local_time(t("core:signeringstidpunkt")),
            "issued_by": t("core:skapadAv/core:personal-id/types:extension"),
            "relation": relation,
            "diagnoses": [
                {"code": code(p.get("6.2")), "description": (p["6.1"].text if "6.1" in p else None)}
                for p in answers.get("6", [])
            ],
            "function_impairment": text("35", "35.1"),
            "activity_limitation": text("17", "17.1"),
            "periods": periods,
            "occupations": [code(p.get("28.1")) for p in answers.get("28", [])],
            "prognosis": prognosis,
            "work_measures": [code(p.get("40.1")) for p in answers.get("40", [])],
            "contact_with_fk_desired": text("26", "26.1") == "true",
            "motivation_early_start": motivation.removeprefix(MOTIVATION) or None,
            "patient_id": t("core:patient/core:person-id/types:extension"),
            "care_unit_id": t("core:skapadAv/core:enhet/core:enhets-id/types:extension"),
        },
    )
