"""theory.audit: each public variant is recognised, the faithful twins pass, a broken function fails with a
re-run line; the variants' references and twins agree, and each breaks what the issue says it breaks."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import batched as B
from theory import reference as R
from theory.audit import classify
from theory.batched import variants as BV
from theory.opinfo import error_ratio, to_torch
from theory.reference import variants as RV
from theory.registry import REGISTRY, get, samples

ROOT = Path(__file__).resolve().parent.parent
WITH_VARIANTS = [op for op in REGISTRY if op.variants]


def test_every_variant_is_registered_where_expected():
    assert {op.name: [v.name for v in op.variants] for op in WITH_VARIANTS} == {
        "conv_similarity": ["cs_convsim2d_adjacent_same_channel"], "mfd_loss": ["mfd_clamped_denominator"],
        "ocnn_orthogonality": ["ocnn_public_norm_padding1"], "sc_loss": ["pod_sc_over_n_minus_1"],
        "orthoreg_pair_weight": ["orthoreg_pytorch_port_linear"]}


@pytest.mark.parametrize("op", WITH_VARIANTS, ids=lambda o: o.name)
def test_variant_twins_match_their_references(op):
    for v in op.variants:
        for seed in (0, 1):
            for s in samples(op, seed):
                got = v.twin(*(to_torch(a) for a in s.args), **s.kwargs)
                assert error_ratio(op, s, got, reference=v.reference) <= 1, (v.name, s.describe())


@pytest.mark.parametrize("name,fn", [("conv_similarity", BV.conv_similarity_adjacent),
                                     ("ocnn_orthogonality", BV.ocnn_orthogonality_public),
                                     ("mfd_loss", BV.mfd_loss_clamped), ("sc_loss", BV.sc_loss_over_n_minus_1),
                                     ("orthoreg_pair_weight", BV.orthoreg_pair_weight_port)])
def test_audit_names_each_variant(name, fn):
    rows = classify(name, fn)
    v = get(name).variants[0].name
    assert v in {r["verdict"] for r in rows} and {r["verdict"] for r in rows} <= {"faithful", v}
    if name == "mfd_loss":                  # the clamp acts only on the small-activation sample
        assert {r["desc"].split(":")[0] for r in rows if r["verdict"] == v} == {"d=1 small activations (x1e-6)"}


def test_audit_experiment_report(tmp_path):
    from experiments.__main__ import main
    from tests.training_fixtures import write_fashion_mnist

    data = tmp_path / "fm"
    write_fashion_mnist(data, 13, 2)                              # 130 training images: one batch of 128
    out = tmp_path / "audit"
    assert main(["audit", "run", "--out", str(out), "--data-root", str(data), "--episodes", "20",
                 "--pod-results", str(ROOT / "reports" / "pod" / "results"),
                 "--claim2d", str(ROOT / "reports" / "claim2d")]) == 0
    import json

    a = json.loads((out / "audit.json").read_text())
    assert {r["variant"] for r in a["registry"]} == {v.name for op in WITH_VARIANTS for v in op.variants}
    assert all(r["identified"] > 0 for r in a["registry"])        # every variant shows on some sample
    assert all(v["max_rel_difference"] < 1e-12 for k, v in a["cs"].items() if k.startswith("montecarlo"))
    assert [l["pairs_variant"] for l in a["cs"]["cnn1_half_width"]] == [31, 992, 992, 992]
    assert a["mfd"]["n_stages"] == 5 and a["mfd"]["n_every"] == 17
    # the committed 2-D claim has both objectives; with one kernel pair and one channel they coincide
    c2 = {(r["C"], r["k"], r["S"], r["input"]): r for r in a["claim2d"]}
    assert len(c2) == 24 and all(r["cos_after_cs"] == pytest.approx(r["cos_after_adjacent"], rel=1e-6)
                                 for (c, _, s, _), r in c2.items() if c == 1 and s == 2)
    assert sorted(p.name for p in out.iterdir()) == ["REPORT.md", "audit.json"]


def test_convsim2d_is_faithful_exactly_where_it_should_be():
    rows = classify("conv_similarity", BV.conv_similarity_adjacent, seeds=(0,))
    for r, s in zip(rows, samples(get("conv_similarity"), 0)):
        w = s.args[0]
        S, C = w.shape[-(s.kwargs["d"] + 2)], w.shape[-(s.kwargs["d"] + 1)]
        assert (r["verdict"] == "faithful") == (S == 1 or (S == 2 and C == 1)), s.describe()   # S = 1: both 0


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10 ** 6), s=st.integers(3, 5), c=st.integers(1, 3))
def test_convsim2d_breaks_permutation_invariance(seed, s, c):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(s, c, 3))
    perm = np.roll(np.arange(s), 1)
    perm[[0, 1]] = perm[[1, 0]]
    assert R.conv_similarity(w[perm], d=1) == pytest.approx(R.conv_similarity(w, d=1), rel=1e-12)
    assert RV.conv_similarity_adjacent(w[perm], d=1) != pytest.approx(RV.conv_similarity_adjacent(w, d=1), rel=1e-6)


def test_mfd_clamp_breaks_scale_invariance_and_pod_divides():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4, 3))
    for scale in (1.0, 1e3):
        assert RV.mfd_loss_clamped(x * scale, d=1) == pytest.approx(R.mfd_loss(x, d=1), rel=1e-12)
    assert R.mfd_loss(x * 1e-6, d=1) == pytest.approx(R.mfd_loss(x, d=1), rel=1e-9)
    assert RV.mfd_loss_clamped(x * 1e-6, d=1) < 1e-3 * R.mfd_loss(x, d=1)        # the clamp acts
    f = rng.normal(size=(5, 9))
    y = np.arange(5) % 3
    c = R.pedcc_centroids(3, 9)
    assert RV.sc_loss_over_n_minus_1(f, y, c) == pytest.approx(R.sc_loss(f, y, c) / 8, rel=1e-15)
    assert float(BV.sc_loss_over_n_minus_1(torch.tensor(f), torch.tensor(y), torch.tensor(c))) == \
        pytest.approx(float(B.sc_loss(torch.tensor(f), torch.tensor(y), torch.tensor(c))) / 8, rel=1e-14)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "theory.audit", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def _main(capsys, *args):
    """theory.audit's main in this process: (exit status, stdout, stderr), a usage error's SystemExit included."""
    from theory.audit import main
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_exit_status_and_rerun_line(tmp_path, capsys):
    # one real process: `python -m theory.audit` exits with main's status
    r = _cli("theory.batched.variants:conv_similarity_adjacent", "--op", "conv_similarity", "--seeds", "0")
    assert r.returncode == 1 and "cs_convsim2d_adjacent_same_channel" in r.stdout and "ConvSim2D" in r.stdout
    # the other statuses, in this process (each subprocess would import torch again)
    assert _main(capsys, "theory.batched:conv_similarity", "--op", "conv_similarity")[0] == 0
    mine = tmp_path / "mine.py"
    mine.write_text("import numpy as np\nfrom theory import reference as R\n"
                    "def broken_lcs(weight, *, d):\n    return 1.01 * R.conv_similarity(weight, d=d)\n")
    code, out, _ = _main(capsys, f"{mine}:broken_lcs", "--op", "conv_similarity", "--seeds", "0")
    assert code == 1 and "numpy convention" in out and "agree with no known version" in out
    assert "theory.registry.audit('conv_similarity', broken_lcs, seeds=[0], sample=" in out
    (tmp_path / "bad.py").write_text("def two_args(a, b, c):\n    return a\n")
    code, _, err = _main(capsys, f"{tmp_path / 'bad.py'}:two_args", "--op", "conv_similarity")
    assert code == 2 and "cannot be called" in err and "conv_similarity(weight" in err
    assert _main(capsys, "no_colon", "--op", "conv_similarity")[0] == 2
    code, _, err = _main(capsys, "theory.batched:conv_similarity", "--op", "nope")
    assert code == 2 and "no operation 'nope'" in err


def test_ocnn_public_sees_only_lags_up_to_one_and_puts_the_stride_2_target_at_plus_one():
    from theory.reference.variants import ocnn_public_lags

    assert ocnn_public_lags((1, 1)) == ([[-1, 0, 1], [-1, 0, 1]], 1)
    assert ocnn_public_lags((2, 2)) == ([[-1, 1], [-1, 1]], 1)                   # target index 1: lag +1
    w = np.array([[[1.0, 0.0, 1.0]]]) / np.sqrt(2.0)                            # Z[0] = 1, Z[±2] = 1/2
    assert R.ocnn_orthogonality(w, 1, d=1) == pytest.approx(0.5)                # the paper's P = 2 sees lag ±2
    assert RV.ocnn_orthogonality_public(w, 1, d=1) == pytest.approx(0.0, abs=1e-15)   # the code's P = 1 does not
    v = np.random.default_rng(1).normal(size=(3, 2, 3))
    assert RV.ocnn_orthogonality_public(v, 1, d=1) ** 2 == pytest.approx(_squared_lags_01(v), rel=1e-12)


def _squared_lags_01(v):
    """Σ_{i,j} Σ_{n=-1..1} (Z_ij[n] - δ_ij δ_n)² by NumPy correlate, for the test above."""
    s, c, k = v.shape
    total = 0.0
    for i in range(s):
        for j in range(s):
            z = sum(np.correlate(v[j, ch], v[i, ch], "full") for ch in range(c))    # lags -(k-1)..(k-1)
            for n in (-1, 0, 1):
                total += (z[k - 1 + n] - (1.0 if (i == j and n == 0) else 0.0)) ** 2
    return total


def test_orthoreg_port_weight_is_linear_and_not_the_losss_gradient():
    c = torch.linspace(-1, 1, 11, dtype=torch.float64, requires_grad=True)
    # the faithful weight is the derivative of the paper's per-pair term log(1 + e^{λ(C-1)})
    (g,) = torch.autograd.grad(torch.nn.functional.softplus(10.0 * (c - 1.0)).sum(), c)
    torch.testing.assert_close(B.orthoreg_pair_weight(c.detach()), g)
    port = RV.orthoreg_pair_weight_port(c.detach().numpy())
    assert np.all(port[:5] < 0) and np.allclose(np.diff(port, 2), 0, atol=1e-4 * np.abs(port).max())   # <0 for C<0, ~linear
    assert float(B.orthoreg_pair_weight(torch.tensor(0.9, dtype=torch.float64))) > 100 * port[-2]


@pytest.mark.parametrize("op", WITH_VARIANTS, ids=lambda o: o.name)
def test_the_faithful_twin_and_reference_pass(op):
    assert {r["verdict"] for r in classify(op.name, op.twin, seeds=(0,))} == {"faithful"}
    assert {r["verdict"] for r in classify(op.name, op.reference, seeds=(0,), arrays="numpy")} == {"faithful"}
