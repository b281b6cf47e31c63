#!/usr/bin/env bash
# The whole converged design (issue "Do these losses help a CNN?"), in the order its verdicts need it, on a
# 2-core CPU: every step is a plan that skips finished runs and resumes interrupted ones from their last
# epoch, so this script can be killed at any moment and run again (next session) to continue.
#   bash tools/run-converged.sh            # all steps; JOBS=1 for one run at a time
# Wall time on the 2-core Xeon VM it ran on (two runs in parallel, one thread each), from the run times measured:
#   CS Table 5 (45 runs) 9.87 h of run time = about 5 h of wall clock, CS kernels ~10 min, CS Figure 5
#   (18 ResNet18 x1/4 runs) 5.36 h = about 2.7 h, MFD (24 runs) 5.01 h = about 2.5 h, POD (18 runs) about 3.7 h =
#   about 1.9 h: about 12 h in all (the plan of about 7.5 h underestimated
#   the ResNet runs and the BatchNorm-recalibrated tests of 5,000 images). Then, beyond that design, Figure 5
#   again with lr/10 after epoch 20 (group converged-step: I = 0, 50, 200 and the two rescale twins, 15 runs,
#   about 2.2 h at Figure 5's run time), the protocol that can decide Figure 5's final-window claim; and POD
#   Table VI at twice the converged schedule (group converged-long: 60 epochs, lr/10 after 24 and 40, seeds 0-2,
#   6 runs), the control that asks whether POD's gap to softmax is training it has not had; and POD Table I
#   (latent dimension n = 9, 32, 128, 512 beside the Table VI runs' 256, seeds 0-2, 12 runs, 55 min of wall clock
#   on an AMD EPYC VM).
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
run cs run --study fig5 --protocol converged --tag step --lr-milestones 20 --iters 0 50 200 --jobs "$JOBS" --no-report
run pod run --study table6 --protocol converged --tag long --epochs 60 --lr-milestones 24 40 --seeds 0 1 2 --jobs "$JOBS" --no-report
run pod run --study dims --protocol converged --jobs "$JOBS" --no-report
for e in cs mfd pod; do run "$e" report; done
run claims report --readme README.md
