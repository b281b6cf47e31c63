"""The 2-D Monte Carlo (python -m experiments claim2d {run,report}): Gram formulation, objectives, runner,
samplers, metrics (S = 2 equals the 1-D definitions), the verbs end to end (results, report from the results
alone, help, config round trip), argument errors."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.__main__ import build_parser, main
from experiments.claim2d import data as dt
from experiments.claim2d import metrics as c2m
from experiments.claim2d import objectives as ob
from experiments.claim2d import runner as c2r
from experiments.claim2d.runner import record_steps, run_objective
from experiments.claim2d.spec import RunOptions, draw_kernels, kernel_seed
from experiments.common.cli import UsageError
from experiments.montecarlo import metrics as mcm
from tests.strategies import UNIT, arrays, input_shape, kernel_shape, padding
from tests.training_fixtures import write_fashion_mnist
from theory import batched as B
from theory import reference as R
from theory.batched import variants as BV
from theory.reference import variants as RV


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def fmnist_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("fmnist")
    write_fashion_mnist(root, n_train_per_class=3, n_test_per_class=1)
    return str(root)


# ------------------------------------------------------------------------------ Gram formulation

@given(st.data())
def test_gram_quadratic_forms_equal_reference_feature_inner_product(data):
    """<F_a, F_b> = vec(K_a)^T G_P vec(K_b) for 2-D multi-channel inputs, every padding form."""
    c = data.draw(st.integers(1, 3), label="C")
    ks = kernel_shape(data, 2, 4)
    hw = input_shape(data, ks, 4)
    pad = padding(data, ks, hw)
    x = arrays(data, (2, c, *hw), "x", UNIT)                        # two episodes
    w = arrays(data, (2, 3, c, *ks), "weight")                      # three kernels each
    q = B.gram_quadratic_forms(torch.as_tensor(w), B.feature_gram_stack(torch.as_tensor(x), ks, [pad], d=2),
                               d=2).numpy()
    for e in range(2):
        for a in range(3):
            for b in range(3):
                ref = R.feature_inner_product(x[e], w[e, a], w[e, b], pad, d=2)
                scale = R.feature_inner_product(x[e], np.abs(w[e, a]), np.abs(w[e, b]), pad, d=2)
                assert abs(q[e, 0, a, b] - ref) <= 1e-12 * scale + 1e-300, (q[e, 0, a, b], ref, pad)


@settings(max_examples=15)
@given(st.data())
def test_gram_nested_windows_equal_each_padding_alone(data):
    c = data.draw(st.integers(1, 3), label="C")
    ks = kernel_shape(data, 2, 4)
    hw = input_shape(data, ks, 4)
    x = torch.as_tensor(arrays(data, (3, c, *hw), "x", UNIT))
    pads = ["valid", "full", "same", 1 if min(ks) > 1 else 0, "same_numpy"]
    together = B.feature_gram_stack(x, ks, pads, d=2, chunk=2)
    for j, p in enumerate(pads):
        alone = B.feature_gram(x, ks, p, d=2)
        torch.testing.assert_close(together[:, j], alone, rtol=1e-12, atol=1e-12)


def test_gram_errors():
    with pytest.raises(ValueError, match="^x: expected shape"):
        B.feature_gram_stack(torch.zeros(3, 4), (3, 3), ["full"], d=2)
    with pytest.raises(ValueError, match="leave no output"):
        B.feature_gram_stack(torch.zeros(1, 1, 2, 2), (3, 3), ["valid"], d=2)


def test_stacked_layout_is_read_without_a_copy_and_gives_the_same_forms():
    """The runner keeps the Gram matrices side by side ((E, D, nM, D) memory): same forms as the plain layout."""
    rng = np.random.default_rng(5)
    x = torch.as_tensor(rng.uniform(0, 1, (4, 2, 2, 6, 5)))                  # (E, nI, C, H, W)
    g = B.feature_gram_stack(x, (3, 3), ["valid", "same", "full"], d=2).reshape(4, 6, 18, 18)
    side = g.permute(0, 2, 1, 3).contiguous().permute(0, 2, 1, 3)
    assert side.transpose(-3, -2).is_contiguous() and not side.is_contiguous()
    w = torch.as_tensor(rng.uniform(-1, 1, (4, 3, 2, 3, 3)))
    torch.testing.assert_close(B.gram_quadratic_forms(w, side, d=2), B.gram_quadratic_forms(w, g, d=2),
                               rtol=1e-13, atol=1e-13)


# ------------------------------------------------------------------------------ objectives

def _ref_value(name, w):
    if name == "kernel_ip":
        s = w.shape[0]
        return sum(R.kernel_inner_product(w[i], w[j], d=2) ** 2 for i in range(s) for j in range(i + 1, s))
    return {"soft_orth": lambda: R.soft_orthogonality(w, d=2), "ocnn": lambda: R.ocnn_orthogonality(w, d=2),
            "orthoreg": lambda: R.orthoreg(w, d=2), "cs": lambda: R.conv_similarity(w, d=2),
            "cs_norm": lambda: R.conv_similarity_normalized(w, d=2),
            "cs_adjacent": lambda: RV.conv_similarity_adjacent(w, d=2)}[name]()


def _twin(name, w):
    if name == "kernel_ip":
        f = w.flatten(-3)
        g = f @ f.transpose(-1, -2)
        return torch.triu(g, 1).pow(2).sum((-2, -1))
    return {"soft_orth": lambda: B.soft_orthogonality(w, d=2), "ocnn": lambda: B.ocnn_orthogonality(w, d=2),
            "orthoreg": lambda: B.orthoreg(w, d=2), "cs": lambda: B.conv_similarity(w, d=2),
            "cs_norm": lambda: B.conv_similarity_normalized(w, d=2),
            "cs_adjacent": lambda: BV.conv_similarity_adjacent(w, d=2)}[name]()


@pytest.mark.parametrize("name", list(ob.OBJECTIVES))
@pytest.mark.parametrize("shape", [(2, 1, 3, 3), (8, 3, 3, 3), (3, 2, 2, 3), (2, 4, 5, 5)])
def test_objective_values_and_gradients_match_reference_and_twins(name, shape):
    rng = np.random.default_rng(hash((name, shape)) % 2**32)
    w = rng.uniform(-1, 1, (3, *shape))
    got = ob.objective(name)(torch.as_tensor(w)).numpy()
    ref = np.array([_ref_value(name, we) for we in w])
    np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-12)
    w1 = torch.tensor(w, requires_grad=True)
    w2 = torch.tensor(w, requires_grad=True)
    (g1,) = torch.autograd.grad(ob.objective(name)(w1).sum(), w1)
    (g2,) = torch.autograd.grad(_twin(name, w2).sum(), w2)
    torch.testing.assert_close(g1, g2, rtol=1e-10, atol=1e-10 * float(g2.abs().max()))


def test_objectives_gradcheck_and_nan_isolation():
    w = torch.randn(2, 3, 2, 2, 3, dtype=torch.float64, requires_grad=True)
    for name in ob.OBJECTIVES:
        assert torch.autograd.gradcheck(ob.objective(name), (w,))
    # a non-finite episode does not raise and does not contaminate the others
    x = torch.rand(3, 2, 2, 3, 3, dtype=torch.float64)
    x[1, 0, 0, 0, 0] = float("nan")
    for name in ob.OBJECTIVES:
        v = ob.objective(name)(x)
        assert torch.isnan(v[1]) and torch.isfinite(v[[0, 2]]).all(), name
    with pytest.raises(ValueError, match="objective"):
        ob.objective("nope")


# ------------------------------------------------------------------------------ runner

@pytest.mark.parametrize("name", list(ob.OBJECTIVES))
def test_batched_run_equals_per_episode_torch_adam(name):
    """One batch of episodes = independent torch.optim.Adam runs (catches a gradient layout mismatch)."""
    rng = np.random.default_rng(3)
    e, s, c, k, t = 3, 3, 2, 3, 12
    w0 = torch.as_tensor(rng.uniform(-1, 1, (e, s, c, k, k)))
    x = torch.as_tensor(rng.uniform(0, 1, (e, c, 7, 6)))
    g = B.feature_gram_stack(x, (k, k), ["same", "valid"], d=2)
    run = run_objective(w0, name, 0.05, t, g, record_every=4)
    f = ob.objective(name)
    for i in range(e):
        p = w0[i:i + 1].clone().requires_grad_(True)
        opt = torch.optim.Adam([p], lr=0.05, foreach=False)
        for step in range(t + 1):
            opt.zero_grad()
            v = f(p)
            np.testing.assert_allclose(run.objective[step, i], v.item(), rtol=1e-9, atol=1e-12)
            if step == t:
                break
            v.sum().backward()
            opt.step()
        np.testing.assert_allclose(run.knormT[i], p.detach().flatten(2).norm(dim=-1)[0].numpy(), rtol=1e-9)
    # the recorded similarity at t = 0 and t = T, from the feature maps themselves
    assert list(run.steps) == [0, 4, 8, 12] == record_steps(12, 4)
    wT = None
    for idx, step in ((0, 0), (-1, t)):
        ww = w0.numpy() if step == 0 else None
        if step == t:
            wT = _final_kernels(w0, name, 0.05, t)
            ww = wT
        for i in range(e):
            for m, pad in enumerate(["same", "valid"]):
                fm = R.feature_maps(x[i].numpy(), ww[i], pad, d=2).reshape(s, -1)
                gram = fm @ fm.T
                iu = np.triu_indices(s, 1)
                cos = gram[iu] / np.sqrt(np.diag(gram)[iu[0]] * np.diag(gram)[iu[1]])
                np.testing.assert_allclose(run.sim[idx, i, m], np.sum(gram[iu] ** 2), rtol=1e-9)
                np.testing.assert_allclose(run.mcos[idx, i, m], np.mean(np.abs(cos)), rtol=1e-9)
                np.testing.assert_allclose(run.cos2[idx, i, m], np.sum(cos ** 2), rtol=1e-9)


def _final_kernels(w0, name, lr, t):
    p = w0.clone().requires_grad_(True)
    opt = torch.optim.Adam([p], lr=lr, foreach=False)
    for _ in range(t):
        opt.zero_grad()
        ob.objective(name)(p).sum().backward()
        opt.step()
    return p.detach().numpy()


def test_record_steps_always_end_at_T():
    assert record_steps(10, 3) == [0, 3, 6, 9, 10]
    assert record_steps(5, 1) == [0, 1, 2, 3, 4, 5]


# ------------------------------------------------------------------------------ samplers

def test_samplers_shapes_ranges_and_determinism(fmnist_root):
    ss = np.random.SeedSequence(7)
    for c in (1, 3):
        a = dt.draw_inputs(ss, 6, c, data_root=fmnist_root)
        b = dt.draw_inputs(np.random.SeedSequence(7), 6, c, data_root=fmnist_root)
        h, w = dt.input_hw(c)
        assert set(a) == set(dt.INPUT_KINDS)
        for kind in dt.INPUT_KINDS:
            assert a[kind].shape == (6, c, h, w) and a[kind].dtype == np.float64
            np.testing.assert_array_equal(a[kind], b[kind])                  # seeded-deterministic
        for kind in ("uniform", "image"):
            assert a[kind].min() >= 0.0 and a[kind].max() <= 1.0
        stats = dt.source_stats(c, fmnist_root)
        np.testing.assert_allclose(dt.standardise(a["image"], stats), a["image_std"])
        # prefix-stable: the first episodes of a larger draw are a smaller draw
        small = dt.draw_inputs(np.random.SeedSequence(7), 3, c, data_root=fmnist_root)
        for kind in dt.INPUT_KINDS:
            np.testing.assert_array_equal(small[kind], a[kind][:3])
        other = dt.draw_inputs(np.random.SeedSequence(8), 6, c, data_root=fmnist_root)
        assert not np.array_equal(other["uniform"], a["uniform"])


def test_grey_images_come_from_the_idx_files(fmnist_root):
    imgs = dt.fashion_mnist_images(fmnist_root)
    x = dt.draw_inputs(np.random.SeedSequence(1), 5, 1, ("image",), fmnist_root)["image"]
    for e in range(5):
        assert any(np.array_equal(x[e, 0] * 255.0, im.astype(np.float64)) for im in imgs)


def test_rgb_patches_are_crops_of_the_photographs():
    pytest.importorskip("skimage")
    ims = dt.rgb_images()
    assert [im.shape[0] for im in ims] == [3, 3, 3]
    x = dt.sample_rgb_patches(np.random.default_rng(0), 4, ims, 32)
    assert x.shape == (4, 3, 32, 32) and 0.0 <= x.min() and x.max() <= 1.0
    u8 = np.round(x * 255).astype(np.uint8)
    for e in range(4):
        found = False
        for im in ims:
            hits = np.argwhere(np.all(im[:, :-31, :-31] == u8[e, :, 0:1, 0:1], axis=0))
            found |= any(np.array_equal(im[:, r:r + 32, c:c + 32], u8[e]) for r, c in hits[:200])
        assert found


def test_sampler_errors():
    with pytest.raises(ValueError, match="channels"):
        dt.draw_inputs(np.random.SeedSequence(0), 2, 2)
    with pytest.raises(ValueError, match="inputs"):
        dt.draw_inputs(np.random.SeedSequence(0), 2, 1, ("noise",))


def test_kernel_draw_is_seeded_and_prefix_stable():
    a = draw_kernels(kernel_seed(0, 3, 5, 8), 5, 8, 3, 5)
    assert a.shape == (5, 8, 3, 5, 5) and -1 <= a.min() and a.max() <= 1
    np.testing.assert_array_equal(draw_kernels(kernel_seed(0, 3, 5, 8), 2, 8, 3, 5), a[:2])


# ------------------------------------------------------------------------------ metrics

def test_s2_metrics_equal_the_1d_definitions():
    """For S = 2 the multi-kernel statistics are the 1-D runner's (experiments.montecarlo.metrics)."""
    rng = np.random.default_rng(0)
    e, t = 50, 9
    f1 = rng.uniform(0.5, 2.0, (t + 1, e))
    f2 = rng.uniform(0.5, 2.0, (t + 1, e))
    p = rng.uniform(-1, 1, (t + 1, e)) * np.sqrt(f1 * f2)
    quad = np.stack([f1, p, f2], -1)
    obj = rng.uniform(0, 1, (t + 1, e))
    k0 = rng.uniform(-1, 1, (e, 2, 4))
    kT = rng.uniform(-1, 1, (e, 2, 4))
    one = mcm.summarize(obj, quad, k0, kT)
    cos = p / np.sqrt(f1 * f2)
    kc = lambda k: (np.sum(k[:, 0] * k[:, 1], 1) / np.linalg.norm(k[:, 0], axis=1)
                    / np.linalg.norm(k[:, 1], axis=1))[:, None]
    many = c2m.summarize(obj, p * p, cos * cos, np.abs(cos), cos[0][:, None], cos[-1][:, None],
                         np.linalg.norm(k0, axis=2), np.linalg.norm(kT, axis=2), kc(k0), kc(kT),
                         np.ones(e, bool), np.arange(t + 1))
    for key in ("corr_mean", "corr_std", "reduction_freq", "dec_mean", "dec_std", "inc_mean", "inc_std",
                "cos_before_median", "cos_after_median", "knorm_ratio_median", "log10_sim_ratio_mean",
                "log10_cos2_ratio_mean", "log10_fnorm2_ratio_mean", "decorrelation_share", "diverged"):
        assert many[key] == pytest.approx(one[key], rel=1e-12, abs=1e-14), key
    assert c2m.decrease_source(0.9) == "decorrelation" and c2m.decrease_source(0.1) == "shrinking kernels"
    assert c2m.decrease_source(0.5) == "both" and c2m.decrease_source(None) == "none"


def test_diverged_episode_is_counted_and_excluded():
    e = 4
    obj = np.ones((3, e))
    obj[1, 2] = np.nan
    sim = np.tile(np.array([[4.0], [2.0], [1.0]]), (1, e))
    cos2 = np.full_like(sim, 0.25)
    mcos = np.full_like(sim, 0.5)
    pc = np.full((e, 1), 0.5)
    kn = np.ones((e, 2))
    row = c2m.summarize(obj, sim, cos2, mcos, pc, pc, kn, kn, pc, pc, np.ones(e, bool), np.arange(3))
    assert row["diverged"] == 1 and row["reduction_freq"] == 75.0 and row["n_dec"] == 3
    assert row["decorrelation_share"] == pytest.approx(0.0)            # cos² constant: all from the norms


# ------------------------------------------------------------------------------ CLI

TINY = ["--episodes", "5", "--iterations", "6", "--record-every", "3", "--bootstrap", "30", "--no-progress",
        "--kernel-sizes", "3", "--kernels", "2", "3"]
MARKDOWN = ["C1_k3.md", "C3_k3.md", "REPORT.md"]


def _run(*args):
    return main(["claim2d", "run", *args])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, fmnist_root):
    out = tmp_path_factory.mktemp("c2d") / "out"
    assert _run("--out", str(out), "--data-root", fmnist_root, *TINY) == 0
    return out


def test_tiny_cli_run_writes_valid_json(tiny_run, tmp_path, fmnist_root):
    out = tiny_run
    names = sorted(p.name for p in out.iterdir())
    assert names == ["C1_k3.json", "C1_k3.md", "C3_k3.json", "C3_k3.md", "REPORT.md", "cos_before_after.png",
                     "summary.json"]
    assert (out / "cos_before_after.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["schema_version"] == 1 and summary["groups"] == ["C1_k3.json", "C3_k3.json"]
    assert {"seed", "versions", "device", "dtype", "git_commit", "wall_time_s"} <= set(summary["provenance"])
    assert summary["provenance"]["dtype"] == "float64" and summary["options"]["lr"] == 0.03
    assert summary["provenance"]["command"].startswith("python -m experiments claim2d run --out")
    assert summary["verdict"]["findings"]
    doc = json.loads((out / "C3_k3.json").read_text())
    rows = doc["rows"]
    assert len(rows) == 2 * len(ob.OBJECTIVES) * 3 * 3                  # S × objectives × inputs × paddings
    for r in rows:
        assert r["C"] == 3 and r["k"] == 3 and r["episodes"] == 5
        for key in ("corr_mean", "reduction_freq", "dec_mean", "inc_mean", "cos_before_median", "cos_after_median",
                    "kcos_after_median", "knorm_ratio_median", "decorrelation_share", "diverged", "ci"):
            assert key in r
        assert 0.0 <= r["cos_before_median"] <= 1.0
    # paired design: every objective of a (C, k, S) and input/padding starts from the same |cos|
    first = {(r["S"], r["input"], r["padding"]): r["cos_before_median"] for r in rows}
    assert all(first[(r["S"], r["input"], r["padding"])] == r["cos_before_median"] for r in rows)
    assert "## Verdict" in (out / "REPORT.md").read_text()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    # same seed, same numbers (C = 3 alone: its draws do not depend on which other groups run)
    again = tmp_path / "again"
    assert _run("--out", str(again), "--data-root", fmnist_root, "--no-plot", "--channels", "3", *TINY) == 0
    assert json.loads((again / "C3_k3.json").read_text())["rows"] == rows


def test_report_is_a_pure_function_of_the_results(tiny_run, tmp_path, monkeypatch):
    """``report`` re-renders the same markdown from the results alone (no optimisation) into --out only."""
    def no_runs(*a, **k):
        raise AssertionError("the report verb ran episodes")
    monkeypatch.setattr(c2r, "run_objective", no_runs)
    before = {p.name: p.stat().st_mtime_ns for p in tiny_run.iterdir()}
    out = tmp_path / "elsewhere"
    assert main(["claim2d", "report", "--results", str(tiny_run), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(MARKDOWN + ["cos_before_after.png"])
    for name in MARKDOWN:
        assert (out / name).read_text() == (tiny_run / name).read_text(), name
    assert {p.name: p.stat().st_mtime_ns for p in tiny_run.iterdir()} == before


def test_no_report_writes_the_results_only(tmp_path):
    out = tmp_path / "r"
    assert _run("--out", str(out), "--no-report", "--inputs", "uniform", "--channels", "1", *TINY) == 0
    assert sorted(p.name for p in out.iterdir()) == ["C1_k3.json", "summary.json"]


@pytest.mark.parametrize("args,needle", [
    (["--episodes", "0"], "--episodes"),
    (["--iterations", "-1"], "--iterations"),
    (["--lr", "-0.1"], "--lr"),
    (["--lr", "nan"], "--lr"),
    (["--record-every", "0"], "--record-every"),
    (["--kernels", "1"], "--kernels"),
    (["--kernel-sizes", "0"], "--kernel-sizes"),
    (["--kernel-sizes", "40"], "--kernel-sizes"),
    (["--channels", "2"], "--channels"),
    (["--objectives", "decov"], "--objectives"),
    (["--inputs", "noise"], "--inputs"),
    (["--paddings", "circular"], "--paddings"),
    (["--bootstrap", "-1"], "--bootstrap"),
    (["--device", "tpu"], "--device"),
    (["--set", "kernels=[2, 1]"], "--kernels"),
    (["--data-root", "/nonexistent/fmnist"], "--data-root"),
])
def test_bad_arguments_fail_clearly_and_write_nothing(args, needle, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        _run("--out", str(out), "--no-progress", "--episodes", "2", "--iterations", "2", *args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "claim2d run: error" in err
    assert not out.exists()


def _run_parser():
    parser = build_parser("claim2d")
    return parser._subparsers._group_actions[0].choices["run"]


def test_the_flag_named_by_the_missing_data_message_exists(tmp_path, capsys):
    """The Fashion-MNIST error names the flag to use; the run verb must accept that flag."""
    with pytest.raises(SystemExit):
        _run("--out", str(tmp_path / "o"), "--data-root", str(tmp_path / "nothing-here"), "--channels", "1")
    err = capsys.readouterr().err
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", err))
    assert "--data-root" in named
    accepted = set(_run_parser()._option_string_actions)
    assert named <= accepted, f"the message names flags the parser does not accept: {sorted(named - accepted)}"


def test_options_api_and_out_is_a_file(tmp_path, capsys, fmnist_root):
    o = RunOptions(kernels=[8, 2, 2], objectives=["cs", "kernel_ip"], paddings=["valid", "full"],
                   data_root=fmnist_root).validate()
    assert o.kernels == [8, 2] and o.objectives == ["kernel_ip", "cs"] and o.paddings == ["full", "valid"]
    o.check_data()
    with pytest.raises(UsageError, match="--episodes"):
        RunOptions(episodes=1.5).validate()
    f = tmp_path / "file"
    f.write_text("x")
    for verb, extra in (("run", ["--no-progress"]), ("report", ["--results", str(tmp_path)])):
        with pytest.raises(SystemExit) as exc:
            main(["claim2d", verb, "--out", str(f), *extra])
        assert exc.value.code == 2
        assert ("--out" if verb == "run" else "--results") in capsys.readouterr().err
    assert f.read_text() == "x"


def test_print_config_round_trips_through_config(tmp_path, capsys):
    assert _run("--kernels", "8", "2", "--lr", "0.1", "--objectives", "cs", "--print-config") == 0
    text = capsys.readouterr().out
    assert "kernels = [8, 2]" in text and "lr = 0.1" in text and 'objectives = ["cs"]' in text
    assert "# data_root = (none)" in text
    cfg = tmp_path / "c2d.toml"
    cfg.write_text(text)
    assert _run("--config", str(cfg), "--print-config") == 0
    assert capsys.readouterr().out == text


@pytest.mark.parametrize("verb,expect", [
    ("run", ["--episodes", "(default: 1000)", "--lr", "(default: 0.03)", "--data-root", "--kernels",
             "(default: 2 8)", "(default: reports/claim2d)", "--no-report"]),
    ("report", ["--results", "--out", "(default: reports/claim2d)"]),
])
def test_help_lists_every_flag_with_its_default(verb, expect, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["claim2d", verb, "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    missing = [e for e in expect if e not in text]
    assert not missing, missing
