"""MFD and POD losses in training, their run plans, the MFD benchmark and the reports (tiny settings)."""

import argparse
import dataclasses
import importlib.util
import json
import shlex
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from experiments.__main__ import main
from experiments.common.cli import add_config_arguments, config_from_args, flag_of
from experiments.common.report import difference_sentence
from experiments.mfd import spec as MS
from experiments.mfd.loss import MFDConfig
from experiments.mfd.metrics import measure_mfd
from experiments.mfd.report import write_report as write_mfd_report
from experiments.mfd.run import study_runs as mfd_runs
from experiments.pod import spec as PS
from experiments.pod.metrics import gda_fit_predict
from experiments.pod.model import PODConfig, PODTrainer
from experiments.pod.report import write_report as write_pod_report
from experiments.pod.run import study_runs as pod_runs
from experiments.training.data import ImageData
from experiments.training.engine import TrainConfig, Trainer
from experiments.training.models import STAGES, capture_stages
from experiments.training.results import OVERRIDE_FLAGS, study_command
from tests.training_fixtures import temp_entries, write_fashion_mnist
from theory.reference import pearson as ref_pearson
from theory.reference import pedcc as ref_pedcc

ROOT = Path(__file__).resolve().parents[1]


def _data(n=16, classes=10, size=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return ImageData(torch.randint(0, 256, (n, 1, size, size), generator=g, dtype=torch.uint8),
                     torch.arange(n) % classes, classes)


def _mfd_config(tmp_path, lam=1.0, **kw):
    fields = dict(MS.COMMON, width=0.125, batch_size=8, epochs=1, augment=False, dtype="float64", threads=1,
                  progress=False, out_dir=str(tmp_path / "run"))
    if lam:
        fields.update(mfd_lambda=lam, mfd_stages=list(STAGES), capture=list(STAGES), extra_losses=["mfd"])
    fields.update(kw)
    return MFDConfig(**fields)


def _pod_config(tmp_path, loss="pod", n=16, **kw):
    fields = dict(PS.COMMON, width=0.125, batch_size=8, epochs=1, augment=False, threads=1, progress=False,
                  head="pedcc", loss=loss, feature_dim=n, capture=["backbone"], out_dir=str(tmp_path / "pod"))
    fields.update(kw)
    return PODConfig(**fields)


# ------------------------------------------------------------------------------------------------ MFD

def test_stage_hooks_see_the_five_stage_outputs(tmp_path):
    data = _data(6, size=12)
    tr = Trainer(_mfd_config(tmp_path), train_data=data, test_data=data)
    x, y = next(iter(tr.train_loader))
    b = x.shape[0]
    c = tr.model.widths                                      # width 1/8: 8, 16, 32, 64
    with capture_stages(tr.model, tr.cfg.capture) as feats:
        _, _, parts = tr.compute_loss(x, y, features=feats)
        shapes = {k: tuple(v.shape) for k, v in feats.items()}
        assert all(v.requires_grad for v in feats.values())  # graph kept: the MFD gradient reaches the stages
    assert shapes == {"stage0": (b, c[0], 12, 12), "stage1": (b, c[0], 12, 12), "stage2": (b, c[1], 6, 6),
                      "stage3": (b, c[2], 3, 3), "stage4": (b, c[3], 2, 2)}
    # the captured tensors are the stage outputs: the same as the model's own return_stages
    with torch.no_grad(), capture_stages(tr.model, STAGES, detach=True) as feats:
        _, stages = tr.model(x, return_stages=True)
        for s in STAGES:
            assert torch.equal(feats[s], stages[s])
    assert set(parts) == {"task", "mfd"}


def test_mfd_term_equals_the_theory_reference(tmp_path):
    data = _data(8, size=12)
    lam = 0.3
    tr = Trainer(_mfd_config(tmp_path, lam=lam), train_data=data, test_data=data)
    x, y = next(iter(tr.train_loader))
    with capture_stages(tr.model, tr.cfg.capture) as feats:
        loss, logits, parts = tr.compute_loss(x, y, features=feats)
        arrays = {s: feats[s].detach().numpy() for s in STAGES}
    term = tr.terms["mfd"]
    per_stage = {s: ref_pearson.mfd_loss(arrays[s], d=2) for s in STAGES}
    for s in STAGES:                                           # each stage's L_MFD (eq. 5-6)
        np.testing.assert_allclose(term.last[s], per_stage[s], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(float(parts["mfd"].detach()), lam * sum(per_stage.values()), rtol=1e-10)
    # the whole joint loss of eq. 7
    joint = ref_pearson.mfd_joint_loss(logits.detach().numpy(), y.numpy(), [arrays[s] for s in STAGES], lam, d=2)
    np.testing.assert_allclose(float(loss.detach()), joint, rtol=1e-10)


def test_mfd_config_validation(tmp_path):
    with pytest.raises(ValueError, match="must be captured"):
        _mfd_config(tmp_path, capture=["stage0"]).validate()
    with pytest.raises(ValueError, match="extra_losses"):
        _mfd_config(tmp_path, extra_losses=[]).validate()
    with pytest.raises(ValueError, match="--mfd-lambda"):
        _mfd_config(tmp_path, mfd_lambda=-1.0).validate()
    q = [r.config for r in mfd_runs(MS.MFDPlan(study="compare").validate())]
    assert len(q) == 10 and {c.mfd_lambda for c in q} == {0.0, 1.0}
    assert all(c.mfd_stages == list(STAGES) for c in q if c.mfd_lambda)
    sweep = [r.config for r in mfd_runs(MS.MFDPlan(study="lambda").validate())]
    assert sorted({c.mfd_lambda for c in sweep}) == [0.0, 0.01, 0.1, 1.0, 10.0, 100.0]
    assert {c.name for c in q if c.seed < 3} <= {c.name for c in sweep}        # shared runs
    assert {c.out_dir for c in q if c.seed < 3} <= {c.out_dir for c in sweep}
    p = [r.config for r in mfd_runs(MS.MFDPlan(study="compare", protocol="paper").validate())]
    assert all(c.epochs == 100 and c.lr_milestones == [30, 60, 90] and c.width == 1.0 and c.augment for c in p)
    assert MS.STAGES == STAGES


def test_measure_mfd_counts_dead_channels(tmp_path):
    data = _data(12, size=12)
    tr = Trainer(_mfd_config(tmp_path, lam=0.0, dtype="float32"), train_data=data, test_data=data)
    with torch.no_grad():                                     # kill channel 0 of the stem: dead everywhere
        bn = tr.model.stage0[1]
        bn.weight[0] = 0.0
        bn.bias[0] = -1.0
    numbers, arrays = measure_mfd(tr)
    s0 = numbers["stages"]["stage0"]
    c0 = tr.model.widths[0]
    assert s0["dead_share"] == pytest.approx(1 / c0) and s0["zero_map_share"] >= 1 / c0
    assert s0["batch_dead_share"] >= 1 / c0
    assert arrays["maps_stage0"].shape == (c0, 12, 12) and not arrays["maps_stage0"][0].any()
    assert set(numbers["stages"]) == set(STAGES)


def test_mfd_benchmark_runs(tmp_path, capsys, monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    spec = importlib.util.spec_from_file_location("bench_mfd", ROOT / "benchmarks" / "bench_mfd.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "bench.json"
    assert bench.main(["--width", "0.125", "--batch", "4", "--repeats", "1", "--warmup", "0", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "MFD overhead" in text and "target" in text
    r = json.loads(out.read_text())["results"][0]
    assert r["softmax_step_s"] > 0 and r["mfd_step_s"] > 0 and set(r["mfd_loss_per_stage"]) == set(STAGES)
    assert temp_entries(scratch) == [Path(bench._SCRATCH.name).name]    # run dirs: one scratch dir
    bench._SCRATCH.cleanup()
    assert temp_entries(scratch) == []


# ------------------------------------------------------------------------------------------------ POD

def test_pedcc_layer_stays_frozen_through_training_and_resume(tmp_path):
    data = _data(16, size=12)
    cfg = _pod_config(tmp_path, epochs=2)
    tr = PODTrainer(cfg, train_data=data, test_data=data)
    c0 = tr.centroids.clone()
    ref = torch.as_tensor(ref_pedcc.pedcc_centroids(10, 16, 0), dtype=torch.float32)
    assert torch.equal(c0, ref)
    assert not tr.centroids.requires_grad
    assert all(p is not tr.centroids for g in tr.optimizer.param_groups for p in g["params"])
    n_opt = sum(p.numel() for g in tr.optimizer.param_groups for p in g["params"])
    assert n_opt == sum(p.numel() for p in tr.model.parameters()) == tr.num_parameters
    fc_before = tr.model.backbone.fc.weight.detach().clone()
    rec = tr.run()
    assert rec["status"] == "done"
    assert torch.equal(tr.centroids, c0)                                        # frozen
    assert not torch.equal(tr.model.backbone.fc.weight, fc_before)              # FC1 trained
    ck = torch.load(Path(cfg.out_dir) / "checkpoint.pt", weights_only=False)
    assert torch.equal(ck["model"]["pedcc.centroids"], c0)
    tr2 = PODTrainer(dataclasses.replace(cfg, epochs=3), train_data=data, test_data=data)
    tr2.run(resume=True)
    assert torch.equal(tr2.centroids, c0)
    g = np.asarray(tr2.centroids @ tr2.centroids.T)
    np.testing.assert_allclose(g[~np.eye(10, dtype=bool)], -1 / 9, atol=1e-6)


@pytest.mark.parametrize("loss", ["pod", "cosine"])
def test_pod_loss_in_training_equals_the_reference(tmp_path, loss):
    data = _data(16, size=12)
    tr = PODTrainer(_pod_config(tmp_path, loss=loss, dtype="float64", pod_lambda=0.7), train_data=data,
                      test_data=data)
    x, y = next(iter(tr.train_loader))
    with capture_stages(tr.model, ["backbone"]) as feats:
        total, logits, parts = tr.compute_loss(x, y, features=feats)
    with torch.no_grad():
        latent = tr.model.backbone(x).numpy()
    cent = tr.centroids.numpy()
    want = (ref_pedcc.pod_loss(latent, y.numpy(), cent, 0.7) if loss == "pod"
            else ref_pedcc.cosine_loss(latent, y.numpy(), cent))
    np.testing.assert_allclose(float(parts["task"].detach()), want, rtol=1e-10)
    assert float(total.detach()) == float(parts["task"].detach())                                 # no softmax term
    # the PEDCC layer's output is cos θ to each centroid, and its argmax the eq. 17-19 class
    np.testing.assert_array_equal(logits.argmax(1).numpy(), ref_pedcc.pedcc_predict(latent, cent))


def test_pod_config_validation_and_plans(tmp_path):
    with pytest.raises(ValueError, match="capture"):
        _pod_config(tmp_path, capture=[]).validate()
    with pytest.raises(ValueError, match="loss"):
        _pod_config(tmp_path, loss="ce").validate()
    t6 = [r.config for r in pod_runs(PS.PODPlan(study="table6").validate())]
    assert {(c.head, c.loss) for c in t6} == {("softmax", "ce"), ("pedcc", "pod")} and len(t6) == 10
    dims = [r.config for r in pod_runs(PS.PODPlan(study="dims").validate())]
    assert sorted({c.feature_dim for c in dims}) == sorted({*PS.DIMS, 256})
    t5 = [r.config for r in pod_runs(PS.PODPlan(study="table5").validate())]
    assert {c.name for c in t5 if c.loss == "pod"} == {c.name for c in t6 if c.loss == "pod"}
    assert [c.name for c in t6] == PS.expected_names("quick", "table6")


def test_gda_separates_gaussian_classes():
    g = torch.Generator().manual_seed(0)
    means = torch.eye(3, 5) * 4
    x = torch.cat([means[c] + torch.randn(40, 5, generator=g) for c in range(3)])
    y = torch.arange(3).repeat_interleave(40)
    pred = gda_fit_predict(x, y, x, 3)
    assert float((pred == y).double().mean()) > 0.95


# ------------------------------------------------------------------------------- CLI and reports

def _cli(tmp_path, data, experiment, study, *extra):
    out = tmp_path / f"out-{experiment}"
    args = [experiment, "run", "--study", study, "--seeds", "0", "--epochs", "1", "--train-per-class", "4",
            "--test-per-class", "2", "--width", "0.125", "--tag", "t", "--out", str(out), "--runs-dir",
            str(tmp_path / "runs"), "--data-root", str(data), "--no-progress", "--threads", "1", "--no-report", *extra]
    assert main(args) == 0
    return out / "results"


def test_subcommands_end_to_end_and_reports(tmp_path):
    data = tmp_path / "fm"
    write_fashion_mnist(data, 4, 2)
    res = _cli(tmp_path, data, "mfd", "compare")
    runs = sorted(p.name for p in (res / "quick-t" / "mfd").glob("*"))
    assert runs == ["resnet18-mfd-lg+0-s0.json", "resnet18-mfd-lg+0-s0.npz", "resnet18-softmax-s0.json",
                    "resnet18-softmax-s0.npz"]
    rec = json.loads((res / "quick-t" / "mfd" / "resnet18-mfd-lg+0-s0.json").read_text())
    assert rec["config"]["mfd_stages"] == list(STAGES) and rec["measure"]["regularised"] == list(STAGES)
    assert set(rec["measure"]["stages"]) == set(STAGES)
    _cli(tmp_path, data, "mfd", "lambda", "--lgs", "-1")
    assert (res / "quick-t" / "mfd" / "resnet18-mfd-lg-1-s0.json").is_file()
    rep = tmp_path / "rep"
    assert main(["mfd", "report", "--results", str(res), "--out", str(rep / "mfd")]) == 0
    text = (rep / "mfd" / "REPORT.md").read_text()
    for s in ("Table IV analogue", "Tables I and III", "Dead channels", "Table II analogue", "0.189", "79.18",
              "Missing runs", "`stage0`", "No benchmark result saved"):
        assert s in text, s
    for fig in ("mfd_fig4_stage0", "mfd_fig5_stage1", "mfd_stages", "mfd_lambda"):
        assert (rep / "mfd" / "figures" / f"quick-t_{fig}.png").stat().st_size > 1000, fig

    pres = _cli(tmp_path, data, "pod", "table6")
    _cli(tmp_path, data, "pod", "table5")
    _cli(tmp_path, data, "pod", "dims", "--dims", "9")
    names = sorted(p.name for p in (pres / "quick-t" / "pod").glob("*.json"))
    assert names == ["resnet18-cosine-n256-s0.json", "resnet18-pod-n256-s0.json", "resnet18-pod-n9-s0.json",
                     "resnet18-softmax-s0.json"]
    rec = json.loads((pres / "quick-t" / "pod" / "resnet18-pod-n9-s0.json").read_text())
    assert rec["measure"]["centroids_max_abs_change"] == 0.0 and 0 <= rec["measure"]["gda_acc"] <= 1
    assert rec["measure"]["cosine_acc"] == pytest.approx(rec["summary"]["last_test_acc"])
    assert main(["pod", "report", "--results", str(pres), "--out", str(rep / "pod")]) == 0
    text = (rep / "pod" / "REPORT.md").read_text()
    for s in ("Table VI analogue", "Table V analogue", "Table VII analogue", "Table I analogue", "94.31", "94.23",
              "frozen"):
        assert s in text, s
    assert (rep / "pod" / "figures" / "quick-t_pod_convergence.png").is_file()
    assert (rep / "pod" / "figures" / "quick-t_pod_dims.png").is_file()


def _fake(name, cfg_extra, seed, acc, stages=None, measure=None):
    cfg = {"name": name, "seed": seed, "train_per_class": 250, "test_per_class": 100, "epochs": 10,
           "lr_milestones": [6, 9], "batch_size": 128, "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4,
           "augment": False, "width": 0.25, **cfg_extra}
    m = measure if measure is not None else {"stages": {s: {"channels": 16, "mean_abs_offdiag": v, "mfd_loss": v * v,
                                                            "dead_share": 0.0, "zero_map_share": 0.1,
                                                            "batch_dead_share": 0.0}
                                                        for s, v in zip(STAGES, stages or [0.3] * 5)}}
    return {"status": "done", "config": cfg, "measure": m,
            "summary": {"best_test_acc": acc, "last_test_acc": acc, "last_train_acc": 0.9, "train_size": 2500,
                        "test_size": 1000, "num_parameters": 701178, "best_epoch": 10},
            "history": [{"epoch": 0, "epoch_seconds": 0.0, "test_acc": None},
                        {"epoch": 1, "epoch_seconds": 10.0, "test_acc": acc}]}


def test_reports_on_fake_partial_and_empty_results(tmp_path):
    rep = tmp_path / "rep"
    assert "No results yet" in write_mfd_report(tmp_path / "none", rep).read_text()
    assert "No results yet" in write_pod_report(tmp_path / "none", rep).read_text()
    d = tmp_path / "mfd" / "quick" / "mfd"
    d.mkdir(parents=True)
    for s, acc in ((0, 0.85), (1, 0.86)):
        (d / f"resnet18-softmax-s{s}.json").write_text(json.dumps(_fake(f"resnet18-softmax-s{s}", {}, s, acc)))
        (d / f"resnet18-mfd-lg+0-s{s}.json").write_text(json.dumps(_fake(
            f"resnet18-mfd-lg+0-s{s}", {"mfd_lambda": 1.0, "mfd_stages": list(STAGES)}, s, acc + 0.01,
            stages=[0.1] * 5)))
    text = write_mfd_report(tmp_path / "mfd", rep, figures=False).read_text()
    assert "Missing runs** (6)" in text                      # compare: seeds 2-4 of both methods
    assert "resnet18-softmax-s4" in text and "mfd run --study compare --protocol quick`" in text
    assert "0.100 ± 0.000 (n=2)" in text and "0.300 ± 0.000 (n=2)" in text
    assert "– (missing)" in text                               # λ sweep rows
    p = tmp_path / "pod" / "quick" / "pod"
    p.mkdir(parents=True)
    (p / "resnet18-pod-n256-s0.json").write_text(json.dumps(_fake(
        "resnet18-pod-n256-s0", {"head": "pedcc", "loss": "pod", "feature_dim": 256}, 0, 0.8,
        measure={"cosine_acc": 0.8, "gda_acc": 0.75, "centroids_max_abs_change": 0.0})))
    text = write_pod_report(tmp_path / "pod", rep, figures=False).read_text()
    assert "Missing runs" in text and "resnet18-softmax-s0" in text and "pod run --study dims --protocol quick`" in text
    assert "75.00 (n=1)" in text


def test_tagged_group_missing_runs_command_plans_them_with_the_groups_settings(tmp_path):
    # a tagged group at twice the converged schedule that ran Table VI only: Table V's Cosine runs are missing,
    # and the command the report gives must plan exactly those runs with the group's settings
    long = {"epochs": 60, "lr_milestones": [24, 40], "train_per_class": 500, "test_per_class": 500, "augment": True,
            "bn_recal_batches": 8}
    d = tmp_path / "pod" / "converged-long" / "pod"
    d.mkdir(parents=True)
    for s in (0, 1, 2):
        for name, extra in ((f"resnet18-softmax-s{s}", {}),
                            (f"resnet18-pod-n256-s{s}", {"head": "pedcc", "loss": "pod", "feature_dim": 256})):
            (d / f"{name}.json").write_text(json.dumps(_fake(name, {**long, **extra}, s, 0.8, measure={
                "cosine_acc": 0.8, "gda_acc": 0.75, "centroids_max_abs_change": 0.0})))
    text = write_pod_report(tmp_path / "pod", tmp_path / "rep", figures=False).read_text()
    section = text.split("### Table V analogue")[1].split("###")[0]
    missing = ["resnet18-cosine-n256-s0", "resnet18-cosine-n256-s1", "resnet18-cosine-n256-s2"]
    assert "**Missing runs** (3): " + ", ".join(f"`{m}`" for m in missing) in section
    cmd = section.split("Produce them with `")[1].split("`")[0]
    assert cmd.startswith("python -m experiments pod run --study table5 --protocol converged --tag long")
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, PS.PODRun)
    opts = config_from_args(PS.PODRun, parser.parse_args(shlex.split(cmd)[5:])).validate()
    planned = {r.config.name: r.config for r in pod_runs(opts)}
    assert set(missing) <= set(planned) and set(planned) - set(missing) == {f"resnet18-pod-n256-s{s}" for s in (0, 1, 2)}
    for c in planned.values():
        assert (c.epochs, c.lr_milestones, c.train_per_class, c.test_per_class) == (60, [24, 40], 500, 500)
    # a protocol group's command carries no settings
    assert study_command("pod", "table5", "converged", [], PS.PROTOCOLS, common=PS.COMMON, plan=PS.PODPlan) == (
        "`python -m experiments pod run --study table5 --protocol converged`")


def test_override_flags_name_real_options_and_defaults():
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    flags = {flag_of(f.name) for f in dataclasses.fields(PS.PODPlan)}
    for key, (flag, default) in OVERRIDE_FLAGS.items():
        f = fields[key]
        assert (f.default_factory() if f.default is dataclasses.MISSING else f.default) == default, key
        assert flag in flags, flag


def test_difference_sentence():
    assert "beyond 2 standard errors; same direction" in difference_sentence([0.80, 0.81, 0.80], [0.90, 0.91, 0.90],
                                                                             what="x", paper=0.7)
    assert "opposite to the paper" in difference_sentence([0.90, 0.91, 0.90], [0.80, 0.81, 0.80], what="x", paper=0.7)
    assert "not resolvable" in difference_sentence([0.80, 0.90], [0.81, 0.89], what="x")
    assert "missing" in difference_sentence([], [0.8], what="x")
    assert "no error bar" in difference_sentence([0.8], [0.9], what="x")
