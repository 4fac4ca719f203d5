#!/usr/bin/env bash
# The end-to-end tests and the demo again, on other dates and under a shifted machine clock.
#
# The suite pins "now" (tests/clock.py: CONNECTOR_TEST_NOW, default 2026-11-20T09:00:00Z) and
# hands that clock to the sandboxes and to every connector run, so it passes on any date. This
# script checks that promise the day it breaks:
#   - the pinned moment moves to calendar edges (a leap day, a year's and a quarter's last
#     minute, so runs cross midnight UTC) and to one random moment per CI run;
#   - the machine clock is shifted far from that moment with libfaketime (Debian package
#     `faketime`), so any code that reads the machine clock instead of the injected one
#     disagrees with the pinned data and fails;
#   - `connector demo` runs with its clock pinned (CONNECTOR_NOW) just before midnight of a
#     leap day and of New Year's Eve, so it crosses midnight.
# libfaketime (0.9.10, Debian 12) also offsets the monotonic deadlines of timed lock waits, which
# Python's threading.Condition/Event use: a background thread waiting with a timeout never
# wakes under it. The tests and the demo step that run `connector serve` and the sandbox's
# webhook sender (threads that wait with timeouts), and the dashboard's live updates, therefore run pinned at the same dates on
# the real machine clock, not under libfaketime.
# Usage: bash scripts/ci-dates.sh  (after `make install`; root on Debian to install faketime).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "ci-dates: $*" >&2; }

if ! command -v faketime >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        say "faketime is not installed and this is not root: cannot apt-get install it"
        exit 1
    fi
    say "installing faketime (libfaketime) from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q -o Acquire::Retries=3 >&2
    apt-get install -y -q -o Acquire::Retries=3 --no-install-recommends faketime >&2
fi

BIN=.venv/bin
# One random pinned moment per run (printed, so a failure can be replayed), within three
# years either side of the default.
RANDOM_NOW=$($BIN/python - <<'EOF'
import random
from datetime import UTC, datetime, timedelta
base = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
moment = base + timedelta(seconds=random.randint(-3 * 365 * 86_400, 3 * 365 * 86_400))
print(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
EOF
)

# The e2e tests whose threads wait with timeouts (see above): run pinned on the real clock.
REAL_CLOCK_TESTS=(tests/e2e/test_handoff_realtime.py tests/e2e/test_dashboard.py
                  tests/e2e/test_deletions_merge.py)
deselect=()
for t in "${REAL_CLOCK_TESTS[@]}"; do deselect+=(--deselect "$t"); done

# pinned test moment | machine clock (libfaketime: "+Nd" shifts, "@DATE" starts there)
cases=(
    "2028-02-29T23:59:30Z|+613d"
    "2026-12-31T23:59:40Z|-400d"
    "2027-03-31T23:59:45Z|+1100d"
    "$RANDOM_NOW|+250d"
)
for case in "${cases[@]}"; do
    now=${case%%|*}
    shift_by=${case##*|}
    say "end-to-end tests pinned at $now, machine clock shifted $shift_by"
    CONNECTOR_TEST_NOW=$now faketime -f "$shift_by" \
        $BIN/pytest -q -p no:cacheprovider tests/e2e -m "not slow" \
        "${deselect[@]}"
    say "real-time hand-off, webhook-merge and dashboard tests pinned at $now (machine clock as it is: see above)"
    CONNECTOR_TEST_NOW=$now $BIN/pytest -q -p no:cacheprovider "${REAL_CLOCK_TESTS[@]}"
done

for start in "2028-02-29T23:59:40Z" "2026-12-31T23:59:40Z"; do
    say "connector demo with its clock starting $start"
    workdir=$(mktemp -d)
    CONNECTOR_NOW=$start $BIN/connector demo --workdir "$workdir/demo" --json >"$workdir/demo.json"
    $BIN/python -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if d["ok"] else 1)' \
        "$workdir/demo.json" || { say "the demo failed at $start"; cat "$workdir/demo.json" >&2; exit 1; }
    rm -rf "$workdir"
done
say "passed on every date"
