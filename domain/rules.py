"""Rules revised after release (DOMAIN.md's *revised* sections), as switches that are on today.

A running case workflow must replay its history to the same commands, so a workflow started
before the revision keeps deciding by the released rules: workflows/case.py passes
`RELEASED` unless `workflow.patched("revised-rules-v1")`. Everything else (the API's checks,
sample data, tests) decides with `CURRENT`. `evolve` takes no rules: what a revised rule
decided is written into the event itself (e.g. `CertificateRecorded.replaces`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rules:
    #: A milestone's duties not yet done are done when a later fact makes them due (a
    #: certificate, a corrected day 1, an occupation, a consent), once, recorded as late.
    late_duties: bool = True
    #: Automatic closure at 00:00 of E+g+2 (a certificate starting on E+g+1 still merges), and
    #: a case that closed itself reopens when a merging certificate arrives.
    whole_merge_gap: bool = True
    #: KOMPLT and ERSATT replace the certificate they point to; revoking the replacement
    #: restores it; a completion resolves only the KOMPLT messages about its certificate.
    replacements: bool = True
    #: A job seeker (ARBETSSOKANDE) has no employer duties; FK7804 to FK and the patient told
    #: to apply from day 8.
    job_seekers: bool = True
    #: Every coordination measure needs the patient's coordination consent (recipient
    #: coordinator), and a "declined" coordination status blocks measures.
    coordination_consent: bool = True
    #: Consents about to lapse are reminded 14 days before their end.
    consent_reminders: bool = True
    #: Working days (FK answer deadline reminders) skip Swedish public holidays.
    holiday_working_days: bool = True
    #: A certificate FK has (or that was on its way) is revoked at FK too when it is revoked
    #: (RevokeCertificate). Its own patch, "revoke-certificate-at-fk-v1", released apart.
    revoke_at_fk: bool = True


CURRENT = Rules()
RELEASED = Rules(
    late_duties=False,
    whole_merge_gap=False,
    replacements=False,
    job_seekers=False,
    coordination_consent=False,
    consent_reminders=False,
    holiday_working_days=False,
    revoke_at_fk=False,
)
