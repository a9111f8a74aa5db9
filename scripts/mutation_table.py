"""Tally mutmut's verdicts by source file over the scratch runs in .mutation/ (markdown table).

Each `.mutation/<target>/mutants/**/*.py.meta` holds the verdict of every mutant of one file;
a file measured in several runs counts from the newest. Score: killed / (killed + survived);
"with untested" also counts the mutants no test reaches as survivors.
Usage: python scripts/mutation_table.py [.mutation]
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests",
          36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout",
          None: "not run"}
COLUMNS = ("killed", "survived", "no tests", "timeout", "not run")


def main(root: Path) -> None:
    newest: dict[str, Path] = {}
    for meta in root.glob("*/mutants/**/*.py.meta"):
        mutants = next(p for p in meta.parents if p.name == "mutants")
        name = str(meta.relative_to(mutants)).removesuffix(".meta")
        if name not in newest or meta.stat().st_mtime > newest[name].stat().st_mtime:
            newest[name] = meta
    total: Counter[str] = Counter()
    print("| module | " + " | ".join(COLUMNS) + " | score | with untested |")
    print("|---|" + "---:|" * (len(COLUMNS) + 2))
    for name in sorted(newest):
        codes = json.loads(newest[name].read_text())["exit_code_by_key"].values()
        tally = Counter(STATUS.get(c, "other") for c in codes)
        total += tally
        print(row(name, tally))
    print(row("**total**", total))


def row(name: str, t: Counter[str]) -> str:
    k, s, n = t["killed"], t["survived"], t["no tests"]
    score = f"{k / (k + s):.1%}" if k + s else "-"
    untested = f"{k / (k + s + n):.1%}" if k + s + n else "-"
    return f"| {name} | " + " | ".join(str(t[c]) for c in COLUMNS) + f" | {score} | {untested} |"


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else ".mutation"))
