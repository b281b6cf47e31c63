#!/usr/bin/env bash
# The whole converged design (issue "Do these losses help a CNN?"), in the order its verdicts need it, on a
# 2-core CPU: every step is a plan that skips finished runs and resumes interrupted ones from their last
# epoch, so this script can be killed at any moment and run again (next session) to continue.
#   bash tools/run-converged.sh            # all steps; JOBS=1 for one run at a time
# Estimated wall time on the 2-core machine it was planned on (two runs in parallel, one thread each):
#   CS Table 5 (45 runs) ~2.5 h, CS kernels ~2 min, CS Figure 5 (18 runs) ~1.5 h, MFD (24 runs) ~2 h,
#   POD (18 runs) ~1.5 h, reports ~1 min: about 7.5 h in all.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS="${JOBS:-2}"
py="${PYTHON:-python3}"
run() { echo "== $*" >&2; "$py" -m experiments "$@"; }
run cs run --study table5 --protocol converged --jobs "$JOBS" --no-report
run cs kernels --group converged
run cs run --study fig5 --protocol converged --jobs "$JOBS" --no-report
run mfd run --study compare --protocol converged --jobs "$JOBS" --no-report
run mfd run --study lambda --protocol converged --jobs "$JOBS" --no-report
run pod run --study table6 --protocol converged --jobs "$JOBS" --no-report
run pod run --study table5 --protocol converged --jobs "$JOBS" --no-report
for e in cs mfd pod; do run "$e" report; done
run claims report
