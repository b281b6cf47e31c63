"""The engine's speed settings: channels_last by default, the bf16 autocast mode, the allocator
setting on every entry point, the optimiser step, and the identity of results saved before these fields existed.

Tolerances: channels_last and contiguous run the same float32 arithmetic in another order (oneDNN picks other
kernels), so on a tiny run (8 SGD steps) their losses agree to ``rtol = 1e-4`` (measured: at most 2e-6; the
difference grows with the steps and the learning rate) and their accuracies are equal; two runs of one layout
and seed are bit-identical.
"""

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from experiments.common.cli import UsageError
from experiments.mfd import loss as mfd_loss_module
from experiments.mfd import spec as MS
from experiments.mfd.loss import MFDConfig
from experiments.pod import model as pod_model
from experiments.pod import spec as PS
from experiments.pod.model import PODConfig, PODTrainer
from experiments.training import engine
from experiments.training.data import ImageData, TensorLoader
from experiments.training.engine import LEGACY_DEFAULTS, TrainConfig, Trainer
from experiments.training.models import STAGES, build_model, table4_order
from experiments.training.runs import Run, TrainPlan, identity

TIME_KEYS = {"epoch_seconds", "wall_seconds"}
CL = torch.channels_last


def _data(n=32, c=3, size=16, classes=4, seed=0):
    """Learnable synthetic images: a class-dependent bright band plus noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    x = torch.randint(0, 90, (n, c, size, size), generator=g, dtype=torch.int64)
    for k in range(classes):
        x[labels == k, :, 2 + 3 * k: 4 + 3 * k, :] += 160
    return ImageData(x.clamp(0, 255).to(torch.uint8), labels, classes)


def _cfg(tmp_path, name="r", **kw):
    fields = dict(out_dir=str(tmp_path / name), model="cnn1", epochs=2, batch_size=8, lr=0.05, momentum=0.9,
                  progress=False, threads=1, seed=3)
    fields.update(kw)
    return TrainConfig(**fields)


def _run(cfg, c=3, **kw):
    tr = Trainer(cfg, train_data=_data(c=c), test_data=_data(12, c=c, seed=1), **kw)
    return tr, tr.run()


def _no_times(history):
    return [{k: v for k, v in r.items() if k not in TIME_KEYS} for r in history]


# ------------------------------------------------------------------------------------------- defaults

def test_defaults_and_validation():
    cfg = TrainConfig()
    assert (cfg.memory_format, cfg.precision) == ("channels_last", "fp32")
    assert {"memory_format", "precision"} <= set(identity(cfg))          # part of every result's identity
    for bad, flag in ((dict(memory_format="nhwc"), "memory-format"), (dict(precision="fp16"), "precision"),
                      (dict(precision="bf16", dtype="float64"), "precision"),
                      (dict(precision="bf16", amp=True, device="cuda"), "precision")):
        with pytest.raises(UsageError, match=flag):
            TrainConfig(**bad).validate()


def test_channels_last_model_and_batches_converted_once(tmp_path):
    tr = Trainer(_cfg(tmp_path, model="resnet18", width=0.125), train_data=_data(), test_data=_data(8))
    convs = [m.weight for m in tr.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=CL) for w in convs)
    assert all(not w.is_contiguous() for w in convs if w.shape[1] > 1 and w.shape[-1] > 1)   # NHWC, not also NCHW
    assert tr.train_loader.images.is_contiguous(memory_format=CL)            # the uint8 images, converted once
    x, _ = next(iter(tr.train_loader))
    assert x.is_contiguous(memory_format=CL) and not x.is_contiguous()
    # augmented batches come out of the gather channels-last; the same values as the contiguous loader
    data = _data(8)
    a = TensorLoader(data, 8, augment=True, seed=1, memory_format=CL)
    b = TensorLoader(data, 8, augment=True, seed=1)
    (xa, ya), (xb, yb) = next(iter(a)), next(iter(b))
    assert xa.is_contiguous(memory_format=CL) and xb.is_contiguous()
    assert torch.equal(xa, xb) and torch.equal(ya, yb)
    old = Trainer(_cfg(tmp_path, "c", memory_format="contiguous"), train_data=_data(), test_data=_data(8))
    assert all(m.weight.is_contiguous() for m in old.model.modules() if isinstance(m, torch.nn.Conv2d))


def test_channels_last_matches_contiguous_and_is_bit_identical_per_seed(tmp_path):
    _, cl = _run(_cfg(tmp_path, "cl", lr=0.02))
    _, cl2 = _run(_cfg(tmp_path, "cl2", lr=0.02))
    _, nchw = _run(_cfg(tmp_path, "nchw", lr=0.02, memory_format="contiguous"))
    # same seed, new default: bit for bit (history, per-step log, accuracies)
    assert _no_times(cl["history"]) == _no_times(cl2["history"]) and cl["steps"] == cl2["steps"]
    # the two layouts: the same training to float32 rounding
    for a, b in zip(cl["history"][1:], nchw["history"][1:]):
        for k in ("train_loss", "test_loss", "l_cs"):
            assert a[k] == pytest.approx(b[k], rel=1e-4), k
        assert a["train_acc"] == b["train_acc"] and a["test_acc"] == b["test_acc"]
    assert cl["steps"]["task_loss"] == pytest.approx(nchw["steps"]["task_loss"], rel=1e-4)
    assert cl["history"][-1]["train_loss"] < cl["history"][1]["train_loss"]


@pytest.mark.parametrize("memory_format", ["channels_last", "contiguous"])
def test_pooling_first_trains_bit_for_bit_like_table4s_order(tmp_path, memory_format):
    # a whole run (SGD with momentum, Algorithm 2's L_CS term, per-step log) in either block order: the same numbers
    cfg = _cfg(tmp_path, "fast", memory_format=memory_format, cs_beta=1e-3)
    fast, rec = _run(cfg)
    paper = Trainer(dataclasses.replace(cfg, out_dir=str(tmp_path / "paper")), train_data=_data(),
                    test_data=_data(12, seed=1))
    seq = paper.model
    table4_order(seq)                                                # Table 4's order: LeakyReLU, then MaxPool
    assert [type(m).__name__ for m in seq][2:4] == ["LeakyReLU", "MaxPool2d"]
    ref = paper.run()
    assert _no_times(rec["history"]) == _no_times(ref["history"]) and rec["steps"] == ref["steps"]
    assert all(torch.equal(a, b) for a, b in zip(fast.model.state_dict().values(), paper.model.state_dict().values()))


def test_skipping_torchs_nan_fill_changes_no_number(tmp_path, monkeypatch):
    """The engine turns off torch's NaN fill of new memory under deterministic algorithms: same bits as with it."""
    runs = {}
    for fill in (False, True):
        monkeypatch.setattr(engine, "FILL_UNINITIALIZED_MEMORY", fill)
        for name, kw in (("res", dict(model="resnet18", width=0.125, augment=True)),
                         ("cnn", dict(memory_format="contiguous", cs_beta=1e-3, epochs=1))):
            tr, rec = _run(_cfg(tmp_path, f"{name}{fill}", **kw))
            runs[name, fill] = (_no_times(rec["history"]), rec["steps"], tr.model.state_dict())
    for name in ("res", "cnn"):
        (ha, sa, wa), (hb, sb, wb) = runs[name, False], runs[name, True]
        assert ha == hb and sa == sb and all(torch.equal(wa[k], wb[k]) for k in wa), name


def test_foreach_step_is_bit_identical_to_the_loop():
    """The engine's CPU optimisers use foreach=True: the same bits as torch's per-parameter default."""
    for opt_cls, kw in ((torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)),
                        (torch.optim.SGD, dict(lr=0.01)), (torch.optim.Adam, dict(lr=1e-3, weight_decay=5e-4))):
        finals = []
        for foreach in (False, True):
            torch.manual_seed(0)
            m = build_model("resnet18", in_channels=1, input_size=(8, 8), num_classes=3, width=0.0625)
            m = m.to(memory_format=CL)
            opt = opt_cls(m.parameters(), foreach=foreach, **kw)
            g = torch.Generator().manual_seed(1)
            for _ in range(3):
                for p in m.parameters():
                    p.grad = torch.randn(p.shape, generator=g)
                opt.step()
            finals.append([p.detach().clone() for p in m.parameters()])
        assert all(torch.equal(a, b) for a, b in zip(*finals)), opt_cls


def test_resume_is_bit_identical_under_bf16(tmp_path):
    full_tr, full = _run(_cfg(tmp_path, "full", precision="bf16"))
    _run(_cfg(tmp_path, "part", precision="bf16", epochs=1))                 # stopped after epoch 1
    tr = Trainer(_cfg(tmp_path, "part", precision="bf16"), train_data=_data(), test_data=_data(12, seed=1))
    resumed = tr.run(resume=True)
    assert _no_times(resumed["history"]) == _no_times(full["history"]) and resumed["steps"] == full["steps"]
    for k, v in full_tr.model.state_dict().items():
        assert torch.equal(v, tr.model.state_dict()[k]), k


# ------------------------------------------------------------------------------------------------ bf16

def test_bf16_forward_runs_in_bf16_and_the_losses_in_fp32(tmp_path):
    seen = {"conv": set(), "extra": []}

    def extra(model, outputs):
        seen["extra"].append((outputs["logits"].dtype, {k: v.dtype for k, v in outputs["features"].items()}))
        return 1e-3 * outputs["features"]["stage4"].pow(2).mean()

    cfg = _cfg(tmp_path, model="resnet18", width=0.125, precision="bf16", capture=["stage1", "stage4"], epochs=3,
               cs_beta=1e-4, lr=0.02)
    tr = Trainer(cfg, extra_losses={"feat": extra}, train_data=_data(), test_data=_data(12, seed=1))
    hooks = [m.register_forward_hook(lambda m, i, o: seen["conv"].add(o.dtype))
             for m in tr.model.modules() if isinstance(m, torch.nn.Conv2d)]
    x, y = next(iter(tr.train_loader))
    from experiments.training.models import capture_stages
    with capture_stages(tr.model, cfg.capture) as feats:
        loss, logits, parts = tr.compute_loss(x, y, features=feats)
    assert seen["conv"] == {torch.bfloat16}                                   # the convolutions ran in bf16 ...
    assert feats["stage4"].dtype == torch.bfloat16                            # as captured ...
    assert seen["extra"][-1] == (torch.float32, {"stage1": torch.float32, "stage4": torch.float32})  # ... cast up
    assert logits.dtype == loss.dtype == parts["task"].dtype == parts["cs"].dtype == torch.float32
    loss.backward()                                                           # the cast is differentiable
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in tr.model.parameters())
    for h in hooks:
        h.remove()
    tr.model.zero_grad(set_to_none=True)
    rec = tr.run()
    assert rec["status"] == "done" and rec["config"]["precision"] == "bf16"
    losses = [r["train_loss"] for r in rec["history"][1:]]
    assert losses[-1] < losses[0]                                             # it trains
    assert all(p.dtype == torch.float32 for p in tr.model.parameters())      # master weights stay fp32


def test_bf16_keeps_the_stem_convolutions_float32(tmp_path):
    """... except the stems reading the images (<= 4 input channels): float32, output cast to bf16."""
    for model, stem in (("cnn1", "0"), ("resnet18", "stage0.0")):
        tr = Trainer(_cfg(tmp_path, model, model=model, width=0.125, precision="bf16"), train_data=_data(),
                     test_data=_data(8))
        assert engine.float32_stems(tr.model) == []                           # already done, once
        conv = tr.model.get_submodule(stem)
        assert isinstance(conv.forward, engine._Float32Forward)
        x, _ = next(iter(tr.train_loader))
        with tr.autocast():
            y = conv(x)
        ref = torch.nn.functional.conv2d(x, conv.weight, conv.bias, conv.stride, conv.padding)
        assert y.dtype == torch.bfloat16 and torch.equal(y, ref.to(torch.bfloat16))
        assert conv(x).dtype == torch.float32                                 # outside the autocast: plain fp32
        fp32 = Trainer(_cfg(tmp_path, model + "32", model=model, width=0.125), train_data=_data(), test_data=_data(8))
        assert not isinstance(fp32.model.get_submodule(stem).forward, engine._Float32Forward)


def test_bf16_mfd_and_pod_losses_get_float32(tmp_path, monkeypatch):
    dtypes = []

    def spy(fn):
        def wrapped(x, *a, **k):
            dtypes.append((fn.__name__, x.dtype))
            return fn(x, *a, **k)
        return wrapped

    monkeypatch.setattr(mfd_loss_module, "mfd_loss", spy(mfd_loss_module.mfd_loss))
    monkeypatch.setattr(pod_model, "pod_loss", spy(pod_model.pod_loss))
    data = _data(16, c=1, classes=10)
    mfd = MFDConfig(**dict(MS.COMMON, width=0.125, batch_size=8, epochs=1, augment=False, threads=1, progress=False,
                           out_dir=str(tmp_path / "mfd"), precision="bf16", mfd_lambda=1.0, mfd_stages=list(STAGES),
                           capture=list(STAGES), extra_losses=["mfd"]))
    assert Trainer(mfd, train_data=data, test_data=data).run()["status"] == "done"
    pod = PODConfig(**dict(PS.COMMON, width=0.125, batch_size=8, epochs=1, augment=False, threads=1, progress=False,
                           head="pedcc", loss="pod", feature_dim=16, capture=["backbone"],
                           out_dir=str(tmp_path / "pod"), precision="bf16"))
    tr = PODTrainer(pod, train_data=data, test_data=data)
    assert tr.model.backbone.stage0[0].weight.is_contiguous(memory_format=CL)     # PODTrainer's own model too
    assert tr.run()["status"] == "done"
    assert {n for n, _ in dtypes} == {"mfd_loss", "pod_loss"} and {d for _, d in dtypes} == {torch.float32}


# ----------------------------------------------------------------------------------- allocator, identity

def test_tune_malloc_applied_once_by_the_python_api(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(engine, "_MALLOC_TUNED", None)
    monkeypatch.setattr(engine, "_mallopt", lambda: calls.append(1) or True)
    Trainer(_cfg(tmp_path, "a", epochs=1), train_data=_data(8), test_data=_data(4))
    Trainer(_cfg(tmp_path, "b", epochs=1), train_data=_data(8), test_data=_data(4))
    assert calls == [1] and engine.tune_malloc() is True


def test_results_without_the_fields_count_as_contiguous_fp32(tmp_path):
    old = {k: v for k, v in _cfg(tmp_path, memory_format="contiguous").to_dict().items()
           if k not in LEGACY_DEFAULTS}                                       # a result saved before the fields
    assert identity(old)["memory_format"] == "contiguous" and identity(old)["precision"] == "fp32"
    run = Run("quick", "e", _cfg(tmp_path, memory_format="contiguous"))
    assert TrainPlan.conflict(run, {"config": old}) == {}
    new = Run("quick", "e", _cfg(tmp_path))
    assert TrainPlan.conflict(new, {"config": old}) == {"memory_format": ("contiguous", "channels_last")}
    # a checkpoint written before the fields resumes as a contiguous fp32 run, and is refused as another layout
    cfg = _cfg(tmp_path, "ck", memory_format="contiguous", epochs=1)
    tr, _ = _run(cfg)
    ck = torch.load(tmp_path / "ck" / "checkpoint.pt", weights_only=False)
    ck["config"] = {k: v for k, v in ck["config"].items() if k not in LEGACY_DEFAULTS}
    torch.save(ck, tmp_path / "ck" / "checkpoint.pt")
    again = Trainer(dataclasses.replace(cfg, epochs=2), train_data=_data(), test_data=_data(12, seed=1))
    assert again.run(resume=True)["summary"]["epochs_done"] == 2
    torch.save(ck, tmp_path / "ck" / "checkpoint.pt")
    with pytest.raises(ValueError, match="memory_format"):
        Trainer(dataclasses.replace(cfg, memory_format="channels_last"), train_data=_data(),
                test_data=_data(12, seed=1)).run(resume=True)
    assert json.loads((tmp_path / "ck" / "config.json").read_text())["memory_format"] == "contiguous"


def test_bench_train_runs_and_records_every_variant(tmp_path, capsys, monkeypatch):
    import importlib.util
    import tempfile

    from tests.training_fixtures import temp_entries

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_train.py"
    spec = importlib.util.spec_from_file_location("bench_train", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "b.json"
    assert bench.main(["--models", "resnet18", "--rounds", "1", "--steps", "1", "--batch", "8", "--threads", "1",
                       "--peak-size", "128", "--plan-jobs", "2", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("# python ") and "load average" in text.splitlines()[0] and "new/old" in text
    assert "a plan's throughput, --jobs 2" in text
    r = json.loads(out.read_text())
    v = r["models"]["resnet18"]["variants"]
    assert set(v) == {"old", "new", "bf16", "jobs"} and v["old"]["ratio_to_old"] == 1.0
    assert v["bf16"]["precision"] == "bf16" and v["new"]["memory_format"] == "channels_last"
    # the plan variant: two one-thread worker processes of the new path, each timed in the round
    assert (v["jobs"]["jobs"], v["jobs"]["threads_per_job"], v["jobs"]["memory_format"]) == (2, 1, "channels_last")
    assert (v["old"]["jobs"], v["old"]["threads_per_job"]) == (1, 1) and len(v["jobs"]["seconds"]) == 1
    assert v["jobs"]["images_per_s"] == pytest.approx(8 / v["jobs"]["seconds"][0])
    assert r["plan_jobs"] == 2 and r["jobs_startup_s"]["resnet18"] > 0
    assert r["models"]["resnet18"]["train_mflop_per_image"] > 0 and r["peak_best"]["float32"]["mm"] > 0
    assert r["optimizer_step"]["resnet18"]["bit_identical_to_loop"]["foreach"] is True
    assert torch.utils.deterministic.fill_uninitialized_memory is True          # restored after the benchmark
    # the old path's CNN blocks are in Table 4's order (activation, then pooling); the new path pools first
    kinds = {v: [type(m).__name__ for m in bench.make_trainer("cnn1", v, 1, batch=8).model][2:4] for v in ("old", "new")}
    assert kinds == {"old": ["LeakyReLU", "MaxPool2d"], "new": ["MaxPool2d", "LeakyReLU"]}
    # the Trainers' run directories live in one scratch directory that is removed at exit, nowhere else
    assert temp_entries(scratch) == [Path(bench._SCRATCH.name).name]
    bench._SCRATCH.cleanup()
    assert temp_entries(scratch) == []
