"""The converged CS design: its plan (arms, pairing, seed order), arm recognition, the per-run numbers,
and every arm end to end on a tiny Fashion-MNIST-format fixture, through the report and its claims table."""

import json

import pytest

from experiments.__main__ import main
from experiments.cs.converged import arm_of, by_arm, convergence, cs_claims, run_numbers
from experiments.cs.run import fig5_runs, table5_runs
from experiments.cs.spec import ARMS, CONVERGED_ARMS, CSPlan
from experiments.common.cli import UsageError
from experiments.training.runs import identity
from tests.training_fixtures import write_fashion_mnist


def test_plan_pairs_every_arm_of_a_seed():
    runs = table5_runs(CSPlan(protocol="converged").validate())
    assert len(runs) == len(CONVERGED_ARMS) * 3
    # seed-major: the first len(arms) runs are seed 0's
    assert [r.config.seed for r in runs] == [s for s in (0, 1, 2) for _ in CONVERGED_ARMS]
    for s in (0, 1, 2):
        cfgs = [r.config for r in runs if r.config.seed == s]
        # pairing: the same seed drives the initial weights and the data order of every arm
        assert {(c.train_per_class, c.test_per_class, c.epochs, c.batch_size, c.lr, c.width) for c in cfgs} == \
            {(500, 500, 60, 512, 0.01, 0.5)}
        assert all(c.bn_recal_batches == 4 and c.memory_format == "channels_last" for c in cfgs)
    got = {(r.config.model, arm_of(r.config.to_dict())) for r in runs}
    assert got == set(CONVERGED_ARMS)
    assert len({r.config.out_dir for r in runs}) == len(runs)
    only = table5_runs(CSPlan(protocol="converged", models=["cnn1"], methods=["rescale", "bf16"], seeds=[4]).validate())
    assert [r.name for r in only] == ["cnn1-rescale-s4", "cnn1-bf16-s4"]
    with pytest.raises(UsageError, match="--methods"):
        CSPlan(protocol="quick", methods=["rescale"]).validate()      # the quick protocol has no controls


def test_fig5_plan_has_rescale_twins():
    runs = fig5_runs(CSPlan(study="fig5", protocol="converged").validate())
    names = [r.name for r in runs if r.config.seed == 0]
    assert names == ["resnet18-I0-s0", "resnet18-I10-s0", "resnet18-I50-s0", "resnet18-I200-s0",
                     "resnet18-I50-rescale-s0", "resnet18-I200-rescale-s0"]
    twin = next(r.config for r in runs if r.name == "resnet18-I50-rescale-s0")
    assert twin.cs_init_iters == 50 and twin.cs_init_apply == "norms" and twin.width == 0.25


def test_every_arm_is_recognised_from_its_config():
    for name, fields in ARMS.items():
        assert arm_of(fields) == name
    assert arm_of({"cs_init_iters": 500, "cs_beta": 0.001}) is None          # not an arm of the design


def _rec(seed, accs, recal_every=2, epochs=None, **cfg):
    epochs = epochs or len(accs)
    hist = [{"epoch": 0, "test_acc": None, "test_acc_recal": None, "train_acc": None, "l_cs": 10.0,
             "l_cs_normalized": 1.0, "conv_kernel_norm": 1.0}]
    for e, a in enumerate(accs, start=1):
        hist.append({"epoch": e, "test_acc": a - 0.01, "train_acc": a + 0.05, "l_cs": 5.0,
                     "test_acc_recal": a if (e % recal_every == 0 or e == epochs) else None})
    return {"status": "done", "config": {"model": "cnn1", "seed": seed, "batch_size": 512, **cfg},
            "summary": {"best_test_acc": max(accs) - 0.01, "train_size": 5000, "wall_seconds": 1.0},
            "history": hist}


def test_run_numbers_slope_final_and_steps_to_target():
    flat = [0.5 + 0.01 * min(e, 20) for e in range(1, 41)]       # climbs 1 pp / epoch to epoch 20, then flat
    n = run_numbers(_rec(0, flat))
    assert n["slope"] == pytest.approx(0.0, abs=1e-9) and n["final_recal"] == pytest.approx(0.70)
    assert n["top_recal"] == pytest.approx(0.70) and n["steps_per_epoch"] == 10
    assert n["final_sd"] == pytest.approx(0.0, abs=1e-12)
    # recalibrated every 2 epochs: the final window (epochs 21-40) holds 10 tests alternating 0.6 / 0.8
    noisy = run_numbers(_rec(0, [0.7] * 20 + [0.8 if e % 4 == 0 else 0.6 for e in range(21, 41)]))
    assert noisy["final_recal"] == pytest.approx(0.7) and noisy["final_sd"] == pytest.approx((0.1 / 9) ** 0.5)
    rising = [0.5 + 0.002 * e for e in range(1, 41)]               # 0.2 pp / epoch throughout
    assert run_numbers(_rec(0, rising))["slope"] == pytest.approx(0.2, rel=1e-9)
    arms = by_arm([_rec(s, flat) for s in (0, 1)] + [_rec(s, [a + 0.02 for a in flat], cs_init_iters=500)
                                                    for s in (0, 1)])
    # target: the baseline's final 70 % minus 1 pp = 69 %, reached at epoch 20 (baseline) and 18 (alg1, +2 pp)
    assert arms[("cnn1", "baseline")][0]["steps_to_target"] == 200
    assert arms[("cnn1", "alg1")][1]["steps_to_target"] == 180
    conv = convergence(arms)
    assert conv == [{"model": "cnn1", "arm": "baseline", "slope": pytest.approx(0.0, abs=1e-9),
                     "slopes": [pytest.approx(0.0, abs=1e-9)] * 2, "flat": True, "n": 2}]
    claims = cs_claims(arms, "converged")
    gain = next(c for c in claims if c.claim.startswith("CNN1: Algorithm 1 (I = 500)"))
    assert gain.diff == pytest.approx(2.0) and gain.ci == pytest.approx((2.0, 2.0))
    faster = next(c for c in claims if "accelerates" in c.claim)
    assert faster.diff == pytest.approx(-20.0) and faster.unit == "steps" and faster.verdict == "supported"


def test_accelerates_row_stays_when_algorithm1_never_reaches_the_target():
    """The baseline flattens at 70 %, Algorithm 1 at 60 %: no pair has both arms' steps, and the row is decided
    from who arrived ("not supported") instead of leaving the claims table."""
    flat = [0.5 + 0.01 * min(e, 20) for e in range(1, 41)]
    arms = by_arm([_rec(s, flat) for s in (0, 1)] + [_rec(s, [a - 0.1 for a in flat], cs_init_iters=500)
                                                    for s in (0, 1)])
    assert [arms[("cnn1", "alg1")][s]["steps_to_target"] for s in (0, 1)] == [None, None]
    faster = next(c for c in cs_claims(arms, "converged") if "accelerates" in c.claim)
    assert faster.verdict == "not supported" and faster.diff is None and faster.n == 2
    assert faster.note == "the baseline reached it in 2 of 2 runs, Algorithm 1 in 0"


def test_every_arm_end_to_end_through_the_report(tmp_path):
    data = tmp_path / "fm"
    write_fashion_mnist(data, 6, 2)
    out, runs, rep = tmp_path / "out", tmp_path / "runs", tmp_path / "rep"
    args = ["cs", "run", "--study", "table5", "--protocol", "converged", "--seeds", "0", "--epochs", "2",
            "--train-per-class", "6", "--test-per-class", "2", "--init-iters", "3", "--tag", "ci", "--out", str(out),
            "--runs-dir", str(runs), "--data-root", str(data), "--no-progress", "--no-report", "--jobs", "2"]
    assert main(args) == 0
    res = out / "results" / "converged-ci" / "table5"
    recs = [json.loads(p.read_text()) for p in sorted(res.glob("*.json"))]
    assert len(recs) == len(CONVERGED_ARMS)
    assert {(r["config"]["model"], arm_of(r["config"])) for r in recs} == set(CONVERGED_ARMS)
    for r in recs:
        assert r["status"] == "done" and r["history"][-1]["test_acc_recal"] is not None
        if r["config"]["cs_init_apply"] == "norms":
            assert r["cs_init"]["layer_norms_final"] == pytest.approx(r["cs_init"]["layer_norms_alg1"], rel=1e-5)
    assert main(["cs", "kernels", "--group", "converged-ci", "--results", str(out / "results"), "--runs-dir",
                 str(runs), "--images", "8", "--resamples", "50", "--data-root", str(data)]) == 0
    k = json.loads((out / "results" / "converged-ci" / "kernels.json").read_text())
    assert len(k["runs"]) == 6 + 2 and all(len(r["layers"]) == 4 for r in k["runs"].values())
    assert len(list((out / "results" / "converged-ci" / "kernels").glob("*.npz"))) == 8
    assert main(["cs", "report", "--results", str(out / "results"), "--out", str(rep)]) == 0
    text = (rep / "REPORT.md").read_text()
    assert "Trained kernels against their feature maps" in text
    assert "Table 5, converged design" in text and "**Claims**" in text and "Smaller models suffice" in text
    assert "bf16 autocast leaves accuracy unchanged" in text
    assert "Still to run" not in text                 # the tagged group's runs are those of its seed: all there
    assert (rep / "figures" / "converged_curves_converged-ci.png").stat().st_size > 1000
    # one run gone: the report names it, and its command (the group's settings) plans exactly that run again
    (res / "cnn2-alg1-s0.json").unlink()
    assert main(["cs", "report", "--results", str(out / "results"), "--out", str(rep), "--no-figures"]) == 0
    line = next(x for x in (rep / "REPORT.md").read_text().splitlines() if x.startswith("**Still to run**"))
    assert line.startswith(f"**Still to run** (1 of {len(CONVERGED_ARMS)}): `cnn2-alg1-s0`.")
    cmd = line.split(". `")[1].split("`")[0]
    assert cmd == ("python -m experiments cs run --study table5 --protocol converged --tag ci --seeds 0 --epochs 2 "
                   "--train-per-class 6 --test-per-class 2 --init-iters 3 --jobs 2")
    opts = CSPlan(study="table5", protocol="converged", tag="ci", seeds=[0], epochs=2, train_per_class=6,
                  test_per_class=2, init_iters=3).validate()
    planned = {r.name: r for r in table5_runs(opts)}
    want = next(r for r in recs if r["config"]["name"] == "cnn2-alg1-s0")["config"]
    assert identity(planned["cnn2-alg1-s0"].config) == identity({**want, "data_root": None})


def test_fig5_converged_end_to_end_with_a_rescale_twin(tmp_path):
    data = tmp_path / "fm"
    write_fashion_mnist(data, 4, 2)
    out, runs, rep = tmp_path / "out", tmp_path / "runs", tmp_path / "rep"
    assert main(["cs", "run", "--study", "fig5", "--protocol", "converged", "--iters", "0", "50", "--seeds", "0", "1",
                 "--epochs", "1", "--train-per-class", "4", "--test-per-class", "2", "--width", "0.125", "--tag", "ci",
                 "--out", str(out), "--runs-dir", str(runs), "--data-root", str(data), "--no-progress",
                 "--no-report"]) == 0
    names = sorted(p.stem for p in (out / "results" / "converged-ci" / "fig5").glob("*.json"))
    assert names == sorted(f"resnet18-{a}-s{s}" for a in ("I0", "I50", "I50-rescale") for s in (0, 1))
    assert main(["cs", "report", "--results", str(out / "results"), "--out", str(rep), "--no-figures"]) == 0
    text = (rep / "REPORT.md").read_text()
    assert "Figure 5, converged design" in text and "I = 50 rescale twin" in text
    claims = json.loads((rep / "claims.json").read_text())["claims"]
    assert any("beats its rescale control" in c["claim"] and c["n"] == 2 for c in claims)


def test_fig5_with_a_learning_rate_step_is_its_own_group_and_claims(tmp_path):
    """``--lr-milestones`` (with a tag) trains with the step (the learning rate falls tenfold after the
    milestone, seen in the logged rates), and its claims name the schedule, so that they cannot be read as
    the constant-lr protocol's rows in one claims table."""
    data = tmp_path / "fm"
    write_fashion_mnist(data, 4, 2)
    out, runs, rep = tmp_path / "out", tmp_path / "runs", tmp_path / "rep"
    assert main(["cs", "run", "--study", "fig5", "--protocol", "converged", "--iters", "0", "50", "--seeds", "0", "1",
                 "--epochs", "2", "--lr-milestones", "1", "--train-per-class", "4", "--test-per-class", "2",
                 "--width", "0.125", "--tag", "step", "--out", str(out), "--runs-dir", str(runs), "--data-root",
                 str(data), "--no-progress", "--no-report"]) == 0
    rec = json.loads((out / "results" / "converged-step" / "fig5" / "resnet18-I50-s0.json").read_text())
    assert rec["config"]["lr_milestones"] == [1] and rec["config"]["lr"] == 0.01
    lrs = [h["lr"] for h in rec["history"] if h.get("lr") is not None]
    assert lrs and lrs[-1] == pytest.approx(0.001), rec["history"][-1]
    assert main(["cs", "report", "--results", str(out / "results"), "--out", str(rep), "--no-figures"]) == 0
    text = (rep / "REPORT.md").read_text()
    assert "SGD lr 0.01 (lr ×0.1 after epoch 1)" in text
    claims = json.loads((rep / "claims.json").read_text())["claims"]
    assert claims and all(c["claim"].startswith("ResNet18 (lr ×0.1 after epoch 1)") for c in claims)
    assert {c["protocol"] for c in claims} == {"converged-step"}
    # the final window starts after the milestone: 1 epoch here, not the constant-lr protocol's 20
    assert any("the mean of the last 1 epochs" in c["claim"] for c in claims)
    assert "final 1 ep., recalibrated" in text and "final 20 ep." not in text


@pytest.mark.parametrize("ms,match", [(["5", "3"], "increasing"), (["0"], "--lr-milestones: expected an integer >= 1"), (["2", "2"], "increasing")])
def test_fig5_lr_milestones_are_checked(ms, match):
    with pytest.raises(UsageError, match=match):
        CSPlan(study="fig5", protocol="converged", lr_milestones=[int(m) for m in ms], tag="t").validate()
    with pytest.raises(UsageError, match="--lr-milestones"):
        CSPlan(study="table5", lr_milestones=[3]).validate()


def test_fig5_claims_check_the_top_gain_against_the_final_window_mean():
    from experiments.cs.converged_report import fig5_claims

    steady = [0.5 + 0.01 * min(e, 10) for e in range(1, 31)]                  # flat at 60 % after epoch 10
    spiky = [a + (0.05 if e == 24 else 0.0) for e, a in enumerate(steady, start=1)]   # one lucky test: top +5 pp
    recs = [_rec(s, steady, cs_init_iters=0, cs_init_apply="full") for s in (0, 1, 2)]
    recs += [_rec(s, spiky, cs_init_iters=50, cs_init_apply="full") for s in (0, 1, 2)]
    rows = {c.claim: c for c in fig5_claims(recs, "converged")}
    top = rows["ResNet18: Algorithm 1 with I = 50 raises top test accuracy (Fig. 5)"]
    mean = rows["ResNet18, I = 50: the gain holds in the mean of the last 20 epochs (not only in the maximum of a "
                "noisier curve)"]
    assert top.diff == pytest.approx(5.0) and top.n == 3
    assert mean.diff == pytest.approx(5.0 / 10) and mean.n == 3     # the one spike, averaged over 10 tests


def test_the_final_window_starts_after_the_last_milestone():
    from experiments.training.curves import window_of

    assert window_of({"lr_milestones": [12, 20]}, 30) == 10
    assert window_of({"lr_milestones": []}, 60) == 20
    assert window_of({"lr_milestones": [100]}, 60) == 20          # a milestone after the run ends: none
    flat_after = [0.5 + 0.01 * e for e in range(1, 21)] + [0.8] * 10       # rises to epoch 20, flat after
    n = run_numbers(_rec(0, flat_after, lr_milestones=[12, 20]))
    assert n["window"] == 10 and n["slope"] == pytest.approx(0.0, abs=1e-9)
