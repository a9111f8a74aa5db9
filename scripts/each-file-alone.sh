#!/usr/bin/env bash
# Run every test file on its own (a fresh pytest process each, random order inside), so a test
# that passes only after another file set something up fails here by name.
# Usage: scripts/each-file-alone.sh [pytest args...]   e.g. -p randomly -x, or -m "not slow"
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
failed=()
files=$(find tests -name 'test_*.py' | sort)
for file in $files; do
    if "$PYTHON" -m pytest "$file" -q -p no:cacheprovider "$@" >/tmp/each-file-alone.$$ 2>&1; then
        echo "ok    $file  $(tail -1 /tmp/each-file-alone.$$)"
    else
        code=$?
        if [ "$code" -eq 5 ]; then  # every test of the file skipped or deselected
            echo "skip  $file"
            continue
        fi
        echo "FAIL  $file"
        grep -E "^(FAILED|ERROR)" /tmp/each-file-alone.$$ | sed 's/^/      /'
        failed+=("$file")
    fi
done
rm -f /tmp/each-file-alone.$$
echo "${#failed[@]} of $(echo "$files" | wc -w) file(s) failed alone"
[ ${#failed[@]} -eq 0 ]
