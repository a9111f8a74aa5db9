#!/usr/bin/env bash
# Mutation testing with mutmut, outside the normal suite (`make mutation [MUTATE=target]`).
# Each target runs in its own scratch copy under .mutation/<target>/ (git ignores it), with
# the tests that guard that code; the score and the surviving mutants land in
# .mutation/<target>/report.txt. TESTING.md records the last scores and why the survivors
# that remain are harmless.
#   signing   infra/signing.py     with tests/foundation/test_signing.py
#   auth      api/auth.py             with tests/api/test_auth.py
#   domain    domain/                 with tests/domain (DOMAIN_EXAMPLES=25: short properties;
#                                     the 20 s hash-seed subprocess test left out)
#   domain:F  one file of domain/, e.g. domain:calendar.py; domain:F1,F2 several in one run
#             (one copy and one stats run for all; scripts/mutation_table.py tallies by file)
#   all       signing, auth, domain (hours on two cores)
set -eu
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MUTMUT="$ROOT/.venv/bin/mutmut"
targets=("${@:-signing auth}")
[ "${targets[*]}" = "all" ] && targets=(signing auth domain)
read -r -a targets <<<"${targets[*]}"

run_target() {
    local target=$1 paths tests
    case $target in
        signing) paths='"infra/signing.py"'; tests='"tests/foundation/test_signing.py"' ;;
        auth) paths='"api/auth.py"'; tests='"tests/api/test_auth.py"' ;;
        domain) paths='"domain/"'; tests='"tests/domain"' ;;
        domain:*) paths=$(tr ',' '\n' <<<"${target#domain:}" | sed 's|.*|"domain/&"|' | paste -sd,)
                  tests='"tests/domain"' ;;
        *) echo "unknown target $target" >&2; return 2 ;;
    esac
    local dir="$ROOT/.mutation/${target//[:\/]/-}"
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$ROOT" && git ls-files -co --exclude-standard -z | grep -zv '^\.mutation/' \
        | xargs -0 cp --parents -t "$dir" 2>/dev/null || true)
    cat >>"$dir/pyproject.toml" <<TOML

[tool.mutmut]
source_paths = [$paths]
pytest_add_cli_args_test_selection = [$tests]
pytest_add_cli_args = ["-p", "no:randomly", "-p", "no:cacheprovider", "-q", "-x", "--deselect",
  "tests/domain/test_summary_and_measures.py::test_folding_does_not_depend_on_the_process_hash_seed"]
also_copy = ["domain", "api", "store", "activities", "workflows", "fk", "infra", "sjukfall", "worker.py"]
use_git_change_detection = false
TOML
    echo "== $target: mutating $paths with $tests ($(date -u +%FT%TZ))"
    (cd "$dir" && DOMAIN_EXAMPLES=${DOMAIN_EXAMPLES:-25} "$MUTMUT" run --max-children "${JOBS:-2}" \
        >run.log 2>&1 || true
     "$MUTMUT" export-cicd-stats >/dev/null 2>&1 || true
     "$MUTMUT" results >survivors.txt 2>&1 || true)
    python3 - "$dir" "$target" <<'PY'
import json, sys
from pathlib import Path
d, target = Path(sys.argv[1]), sys.argv[2]
stats = json.loads((d / "mutants" / "mutmut-cicd-stats.json").read_text())
killed, survived = stats["killed"], stats["survived"]
other = {k: v for k, v in stats.items() if k not in ("killed", "survived", "total") and v}
score = killed / (killed + survived) if killed + survived else 0.0
lines = [f"{target}: {killed} killed, {survived} survived of {stats['total']} "
         f"(score {score:.1%}; other: {other})"]
lines += ["  " + l for l in (d / "survivors.txt").read_text().splitlines() if "survived" in l]
(d / "report.txt").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
PY
}

for target in "${targets[@]}"; do run_target "$target"; done
