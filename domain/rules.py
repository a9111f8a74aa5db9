"""Decision rules that changed after release, each a switch that is on today.

A case workflow keeps deciding by the rules it started with: its history must replay to the
same commands (workflows/case.py turns each switch on through `workflow.patched`). Everything
else (the API's checks, benchmarks, sample data) decides with `CURRENT_RULES`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rules:
    #: A certificate recorded after the day-14 milestone that covers sick leave from day 15
    #: goes to FK (with consent), as the first one did at day 14: FK pays sickness benefit by
    #: it. Before: only on the physician's SendCertificateToFk.
    certificates_to_fk_after_day_14: bool = True


CURRENT_RULES = Rules()
