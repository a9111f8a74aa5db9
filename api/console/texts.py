"""The console's words: the domain's closed vocabularies in Swedish, and refusals as a Swedish
coordinator reads them. The code keeps its English identifiers; only what is shown is Swedish."""

from __future__ import annotations

from typing import Any

PHASES = {"assessment": "Bedömning", "plan": "Plan", "follow_up": "Uppföljning",
          "closed": "Avslutat"}

ROLES = {"physician": "Läkare", "coordinator": "Rehabkoordinator", "ops": "Drift",
         "fk_gateway": "FK-tjänst", "system": "Systemet", "patient": "Patient"}

SEXES = {"kvinna": "Kvinna", "man": "Man"}

COORDINATION_STATUSES = {
    "none": "Ingen koordinering", "contacted": "Kontaktad", "active": "Aktiv",
    "follow_up": "Uppföljning", "finished": "Avslutad", "declined": "Avböjt",
    "left_without_action": "Avslutad utan åtgärd", "medical_rehab": "Medicinsk rehabilitering",
}

COORDINATION_KINDS = {
    "internal": "Internt inom vården", "contact_employer": "Kontakt med arbetsgivare",
    "contact_fk": "Kontakt med Försäkringskassan", "contact_af": "Kontakt med Arbetsförmedlingen",
    "contact_social_services": "Kontakt med socialtjänsten",
    "contact_occupational_health": "Kontakt med företagshälsovården",
}

RECIPIENTS = {
    "patient": "patienten", "physician": "läkaren", "coordinator": "rehabkoordinatorn",
    "employer": "arbetsgivaren", "fk": "Försäkringskassan", "af": "Arbetsförmedlingen",
    "social_services": "socialtjänsten", "occupational_health": "företagshälsovården",
    "multimodal_team": "multimodalt team",
}
#: Consents a coordinator records (the care team itself needs none, except the coordination
#: consent that the revised rules record with the coordinator as recipient).
CONSENT_RECIPIENTS = ("employer", "fk", "af", "social_services", "occupational_health",
                      "multimodal_team", "coordinator")

PURPOSES = {"share_information": "informationsutbyte", "contact": "kontakt",
            "coordination": "koordinering"}

NOTIFICATION_KINDS = {
    "certificate_required_day_8": "intyg behövs från dag 8",
    "employer_report_to_fk_by_day_21": "arbetsgivaren anmäler till FK senast dag 21",
    "apply_for_sickness_benefit": "ansök om sjukpenning",
    "certificate_to_fk": "intyg till FK",
    "certificate_revoked_to_fk": "makulerat intyg till FK",
    "employer_return_plan_due": "arbetsgivarens plan för återgång i arbete",
    "offer_coordination": "erbjud koordinering",
    "multimodal_team_referral": "remiss till multimodalt team",
    "plan_follow_up_missing": "uppföljning av planen saknas",
    "rehab_chain_day_91": "rehabkedjan dag 91",
    "rehab_chain_day_181": "rehabkedjan dag 181",
    "rehab_chain_day_366": "rehabkedjan dag 366",
    "consider_af": "överväg Arbetsförmedlingen",
    "coordinate_with_fk": "samordna med FK",
    "reassess_day_366": "ny bedömning dag 366",
    "plan_follow_up_due": "planen ska följas upp",
    "fk_answer_due_soon": "svar till FK snart",
    "fk_answer_overdue": "svar till FK försenat",
    "fk_message": "meddelande från FK",
    "fk_reminder_received": "påminnelse från FK",
    "consent_lapsing": "samtycke löper ut",
}

FLAGS = {
    "no_certificate_for_day_8": "Intyg saknas från dag 8",
    "plan_follow_up_missing": "Uppföljning av planen saknas",
    "plan_follow_up_due": "Planen ska följas upp",
    "employer_return_plan_missing": "Arbetsgivarens plan saknas",
}

FK_TOPICS = {"KOMPLT": "Komplettering", "AVSTMN": "Avstämningsmöte", "KONTKT": "Kontakt",
             "OVRIGT": "Övrigt", "PAMINN": "Påminnelse"}
FK_STATUSES = {"PENDING_INTERNAL_ACTION": "Väntar på vården", "PENDING_EXTERNAL_ACTION":
               "Väntar på FK", "ANSWERED": "Besvarad", "CLOSED": "Avslutad"}

CLOSE_REASONS = {
    "return_to_work_full": "Åter i arbete helt", "return_to_work_partial": "Åter i arbete delvis",
    "moved_to_other_care_provider": "Flyttat till annan vårdgivare",
    "sickness_compensation": "Sjukersättning", "deceased": "Avliden",
    "opened_in_error": "Öppnat av misstag", "sick_period_ended": "Sjukperioden slut",
}

ACCESS_ACTIONS = {"summary": "Sjukfallet", "events": "Händelsehistorik", "list": "Sjukfallslista",
                  "find": "Sökning på personnummer", "access_log": "Åtkomstlogg",
                  "export": "Export (CSV)", "decode": "Avkodning (Temporal)"}

EVENT_TYPES = {
    "CaseOpened": "Sjukfall öppnat", "SickPeriodStartCorrected": "Dag 1 rättad",
    "CertificateRecorded": "Intyg registrerat", "CertificateRevoked": "Intyg makulerat",
    "PlanEstablished": "Plan upprättad", "PlanRevised": "Plan reviderad",
    "PlanFollowedUp": "Plan uppföljd", "FollowUpDue": "Uppföljning att göra",
    "ConsentGiven": "Samtycke givet", "ConsentLapsingSoon": "Samtycke löper snart ut",
    "ConsentWithdrawn": "Samtycke återkallat", "CoordinationOffered": "Koordinering erbjuden",
    "CoordinationPerformed": "Koordineringsinsats", "CoordinationStatusSet": "Koordineringsstatus",
    "ReferredToCoordinator": "Hänvisad till rehabkoordinator",
    "ReferredToMultimodalTeam": "Remiss till multimodalt team",
    "MappingConversationHeld": "Kartläggningssamtal", "MultimodalTeamMeetingHeld":
    "Möte i multimodalt team", "ReconciliationMeetingHeld": "Avstämningsmöte",
    "JointIndividualPlanRecorded": "SIP upprättad",
    "EmployerReturnPlanRecorded": "Arbetsgivarens plan registrerad",
    "MilestoneReached": "Dag i rehabkedjan nådd", "MilestoneDutiesDoneLate": "Försenade åtgärder",
    "CaseReopened": "Sjukfall återöppnat", "NotificationRequested": "Avisering begärd",
    "NotificationSent": "Avisering skickad", "NotificationSuppressed": "Avisering stoppad",
    "NotificationFailed": "Avisering misslyckades", "FkMessageReceived": "Meddelande från FK",
    "FkMessageSendRequested": "Meddelande till FK skrivet", "FkMessageSent": "Meddelande till FK",
    "FkMessageAnswered": "FK-meddelande besvarat", "FkMessageClosed": "FK-meddelande avslutat",
    "FkAnswerReminderDue": "Påminnelse: svar till FK", "FkAnswerOverdue": "Svar till FK försenat",
    "CaseClosed": "Sjukfall avslutat",
}

#: A refusal's rule as the coordinator reads it (the domain's and the API's rules).
RULES = {
    "consent_required": "Patientens samtycke saknas för detta.",
    "consent_not_needed": "Mottagaren informeras utan samtycke; inget samtycke behöver registreras.",
    "valid_until_in_past": "Ett samtycke kan inte gälla till ett datum som redan passerat.",
    "coordination_declined": "Patienten har avböjt koordinering; ändra koordineringsstatus först.",
    "case_closed": "Sjukfallet är avslutat; inget mer kan registreras.",
    "role_not_allowed": "Din roll får inte göra detta.",
    "date_in_future": "Datumet ligger i framtiden.",
    "date_out_of_range": "Datumet ligger utanför det tillåtna intervallet.",
    "text_too_long": "Texten är för lång.",
    "control_character": "Texten innehåller otillåtna tecken.",
    "too_many_items": "För många uppgifter.",
    "plan_missing": "Det finns ingen plan att följa upp.",
    "next_follow_up_not_after": "Nästa uppföljning måste ligga efter den här.",
    "not_referred_to_multimodal_team": "Patienten är inte remitterad till multimodalt team.",
    "missing": "Uppgiften saknas.",
    "literal_error": "Välj ett av de givna alternativen.",
    "date_from_datetime_parsing": "Ange ett datum som ÅÅÅÅ-MM-DD.",
    "date_parsing": "Ange ett datum som ÅÅÅÅ-MM-DD.",
    "date_type": "Ange ett datum som ÅÅÅÅ-MM-DD.",
    "extra_forbidden": "Okänd uppgift i formuläret.",
    "string_too_long": "Texten är för lång.",
    "csrf": "Formuläret har gått ut eller kom inte från konsolen; ladda om sidan och försök igen.",
}

FIELDS = {"recipient": "Mottagare", "purpose": "Ändamål", "valid_until": "Giltigt till",
          "status": "Status", "note": "Anteckning", "kind": "Insats", "performed_on": "Datum",
          "followed_up_on": "Uppföljd den", "next_follow_up": "Nästa uppföljning",
          "case_id": "Sjukfall", "actor.role": "Roll"}


def refusal(status: int, detail: str, errors: list[dict[str, Any]]) -> str:
    """A refused command in Swedish: the rule's text, and the field it concerns."""
    if status == 503:
        return "Tjänsten svarar inte just nu; försök igen om en stund (samma formulär kan skickas igen)."
    if status == 404:
        return "Sjukfallet finns inte."
    parts = []
    for error in errors or [{"message": detail}]:
        text = RULES.get(error.get("rule", ""), f"Nekades: {error.get('message') or detail}")
        field = FIELDS.get(error.get("field", ""))
        parts.append(f"{field}: {text}" if field else text)
    return " ".join(parts)


def label(table: dict[str, str], value: Any) -> str:
    if value is None:
        return "–"
    return table.get(str(value), str(value))


def percent(share: float | None, decimals: int = 1) -> str:
    """0.125 -> '12,5 %' (Swedish decimal comma); no share -> '–'."""
    if share is None:
        return "–"
    return f"{share * 100:.{decimals}f}".replace(".", ",") + "\u00a0%"
