"""The converged protocols of the MFD and POD studies end to end on a tiny Fashion-MNIST-format fixture: runs
with recalibrated tests, the converged section of each report, its claims.json, and the one claims table."""

import json

import pytest

from experiments.__main__ import main
from tests.training_fixtures import write_fashion_mnist


@pytest.mark.parametrize("exp,study,names", [
    ("mfd", "compare", {"Softmax + MFD", "stage 0's mean", "Stage 0's correlation", "The MFD loss falls"}),
    ("pod", "table6", {"POD loss beats softmax", "Gaussian discriminant"}),
])
def test_converged_study_end_to_end(tmp_path, exp, study, names):
    data = tmp_path / "fm"
    write_fashion_mnist(data, 6, 2)
    out, runs, rep = tmp_path / "out", tmp_path / "runs", tmp_path / "rep"
    assert main([exp, "run", "--study", study, "--protocol", "converged", "--seeds", "0", "1", "--epochs", "2",
                 "--train-per-class", "6", "--test-per-class", "2", "--tag", "ci", "--out", str(out), "--runs-dir",
                 str(runs), "--data-root", str(data), "--no-progress", "--no-report", "--jobs", "2"]) == 0
    recs = [json.loads(p.read_text()) for p in (out / "results" / "converged-ci" / exp).glob("*.json")]
    assert len(recs) == 4
    for r in recs:
        c = r["config"]
        assert c["bn_recal_batches"] == 8 and c["augment"] and c["width"] == 0.25 and c["lr_milestones"] == [12, 20]
        assert r["history"][-1]["test_acc_recal"] is not None
    assert main([exp, "report", "--results", str(out / "results"), "--out", str(rep)]) == 0
    text = (rep / "REPORT.md").read_text()
    assert "Converged-protocol verdicts" in text and "**Convergence**" in text
    claims = json.loads((rep / "claims.json").read_text())["claims"]
    got = " | ".join(c["claim"] for c in claims)
    for n in names:
        assert n in got, (n, got)
    assert all(c["protocol"] == "converged-ci" for c in claims)
    assert all(c["n"] == 2 for c in claims if any(n in c["claim"] for n in names))       # paired over both seeds
    assert (rep / "figures" / "converged-ci_curves.png").stat().st_size > 1000
    assert main(["claims", "report", "--inputs", str(rep / "claims.json"), "--out", str(tmp_path / "all")]) == 0
    assert len(json.loads((tmp_path / "all" / "claims.json").read_text())["claims"]) == len(claims)


def _pod_rec(seed, accs, **method):
    hist = [{"epoch": 0, "test_acc": None, "test_acc_recal": None, "train_acc": None}]
    hist += [{"epoch": e, "test_acc": a, "test_acc_recal": a, "train_acc": a} for e, a in enumerate(accs, start=1)]
    return {"status": "done", "config": {"seed": seed, "batch_size": 128, "feature_dim": 256, **method},
            "summary": {"best_test_acc": max(accs), "train_size": 1280, "wall_seconds": 1.0}, "history": hist}


def test_pod_converges_faster_is_decided_when_pod_never_reaches_the_target():
    """Softmax flattens at 85 %, POD at 80 %: no POD run reaches softmax's final − 1 pp, so there are no paired
    steps to test. The row is still there, "not supported", with the counts, instead of missing from the table."""
    from experiments.common.claims import adjust
    from experiments.pod.claims import pod_claims

    soft = [min(0.85, 0.5 + 0.05 * e) for e in range(1, 41)]
    pod = [min(0.80, 0.5 + 0.05 * e) for e in range(1, 41)]
    recs = [_pod_rec(s, soft, head="softmax", loss="ce") for s in range(3)]
    recs += [_pod_rec(s, pod, head="pedcc", loss="pod") for s in range(3)]
    rows = {c.claim.split(":")[0]: c for c in adjust(pod_claims(recs, "converged"))}
    c = rows["POD converges faster"]
    assert c.verdict == "not supported" and c.diff is None and c.n == 3
    assert c.note == "softmax reached it in 3 of 3 runs, POD in 0"
    # when POD does get there (later), the row is the paired test, as before
    late = [min(0.85, 0.5 + 0.03 * e) for e in range(1, 41)]
    recs = recs[:3] + [_pod_rec(s, late, head="pedcc", loss="pod") for s in range(3)]
    c = {c.claim.split(":")[0]: c for c in pod_claims(recs, "converged")}["POD converges faster"]
    assert c.diff is not None and c.diff > 0 and c.reached is None


def test_mfd_steps_row_stays_when_mfd_never_reaches_the_target():
    """Softmax flattens at 85 %, MFD (λ = 1) at 80 %: the steps row is kept with the counts, not dropped."""
    from experiments.mfd.claims import mfd_claims

    soft = [min(0.85, 0.5 + 0.05 * e) for e in range(1, 41)]
    mfd = [min(0.80, 0.5 + 0.05 * e) for e in range(1, 41)]
    recs = [_pod_rec(s, soft, mfd_lambda=0.0) for s in range(3)] + [_pod_rec(s, mfd, mfd_lambda=1.0) for s in range(3)]
    c = next(c for c in mfd_claims(recs, "converged") if "fewer SGD steps" in c.claim)
    assert c.diff is None and c.n == 3 and c.reached == (3, 0, 3)
    assert c.note == "softmax reached it in 3 of 3 runs, MFD in 0"


@pytest.mark.parametrize("ms,match", [([5, 3], "increasing"), ([0], "expected an integer >= 1"), ([2, 2], "increasing"),
                                      ([], "increasing")])
def test_pod_lr_milestones_are_checked(ms, match):
    from experiments.common.cli import UsageError
    from experiments.pod.spec import PODPlan

    with pytest.raises(UsageError, match=f"--lr-milestones: {match}" if match != "increasing" else "--lr-milestones"):
        PODPlan(protocol="converged", lr_milestones=ms, tag="t").validate()


def test_pod_lr_milestones_reach_every_run_of_the_study():
    """Twice the converged schedule (``--epochs 60 --lr-milestones 24 40 --tag long``): softmax and POD alike,
    in their own group; without the options the protocol's 30 epochs and milestones 12, 20."""
    from experiments.pod.run import study_runs
    from experiments.pod.spec import PODPlan

    opts = PODPlan(protocol="converged", epochs=60, lr_milestones=[24, 40], tag="long", seeds=[0])
    long = study_runs(opts.validate())
    assert [(r.name, r.config.epochs, list(r.config.lr_milestones)) for r in long] == [
        ("resnet18-softmax-s0", 60, [24, 40]), ("resnet18-pod-n256-s0", 60, [24, 40])]
    assert {r.group for r in long} == {"converged-long"}
    base = study_runs(PODPlan(protocol="converged", seeds=[0]).validate())
    assert [(r.config.epochs, list(r.config.lr_milestones)) for r in base] == [(30, [12, 20])] * 2
