"""The batched Monte Carlo runner against the naive NumPy loop, autograd and torch.optim.Adam; the registered
engines it runs on (Gram matrices, DFT operands) in the form it uses them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from experiments.common.optim import resolve_device
from experiments.montecarlo import episodes as ep
from experiments.montecarlo import naive
from experiments.montecarlo.metrics import summarize
from experiments.montecarlo.spec import M, config_seed, configs_for
from theory import batched as B
from theory import reference as R



@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small batched ops: one torch thread is fastest (and robust on a busy 2-core machine)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


CASES = [("kernel", "full"), ("cs", "full"), ("cs", "valid")]


def _draw(n, episodes=3, seed=0):
    return ep.draw_episodes(np.random.SeedSequence([seed, n, 99]), episodes, n)


def _assert_same(b, nv, rtol=1e-9):
    """Batched vs naive: tolerances scaled by each episode's starting magnitudes (values shrink a lot)."""
    obj_scale = np.maximum(np.abs(nv["objective"][0]), 1e-300)              # (E,)
    assert np.all(np.abs(b["objective"] - nv["objective"]) <= rtol * obj_scale + 1e-300)
    q0 = np.sqrt(nv["quad"][0, :, :, 0] * nv["quad"][0, :, :, 2])           # (E, nP) ||F1||·||F2|| at t=0
    assert np.all(np.abs(b["quad"] - nv["quad"]) <= rtol * q0[None, :, :, None])
    k_scale = np.abs(nv["k0"]).max()
    np.testing.assert_allclose(b["kT"], nv["kT"], rtol=0, atol=rtol * k_scale)


@pytest.mark.parametrize("objective,padding", CASES)
@pytest.mark.parametrize("optimizer,lr", [("adam", 0.1), ("sgd", 0.05)])
@pytest.mark.parametrize("n", [2, 3, 9])
def test_batched_matches_naive_loop(objective, padding, optimizer, lr, n):
    d = _draw(n)
    b = ep.run_batched(d.k, d.x, objective, optimizer, lr, 40, (padding,)).numpy()
    nv = naive.run_naive(d.k, d.x, objective, optimizer, lr, 40, (padding,))
    assert b["quad"].shape == nv["quad"].shape == (41, 3, 1, 3)
    _assert_same(b, nv)


@pytest.mark.parametrize("objective,padding", CASES)
def test_paper_configuration_matches_naive_loop(objective, padding):
    """Full paper iteration counts and learning rates, N = 16, two episodes of the real seeds."""
    exp = {("kernel", "full"): "kernel_full", ("cs", "full"): "cs_full", ("cs", "valid"): "cs_valid"}
    for cfg in [c for c in configs_for(exp[(objective, padding)]) if c.n == 16]:
        d = ep.draw_for_config(0, cfg, 2)
        iters = min(cfg.iterations, 200)
        b = ep.run_batched(d.k, d.x, objective, cfg.optimizer, cfg.lr, iters, (padding,)).numpy()
        nv = naive.run_naive(d.k, d.x, objective, cfg.optimizer, cfg.lr, iters, (padding,))
        _assert_same(b, nv, rtol=1e-8)


def test_padding_sweep_matches_naive_loop():
    n = 4
    pads = [0, 1, 2, 3, "same", "same_numpy", (0, 2)]
    d = _draw(n)
    b = ep.run_batched(d.k, d.x, "cs", "adam", 0.1, 25, pads).numpy()
    nv = naive.run_naive(d.k, d.x, "cs", "adam", 0.1, 25, pads)
    _assert_same(b, nv)
    # Two paddings go through Gram matrices, seven through "full minus edges": same numbers.
    two = ep.run_batched(d.k, d.x, "cs", "adam", 0.1, 25, [pads[0], pads[4]]).numpy()
    np.testing.assert_allclose(two["quad"][:, :, 0], b["quad"][:, :, 0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(two["quad"][:, :, 1], b["quad"][:, :, 4], rtol=1e-10, atol=1e-12)
    # Mixed: the first padding through Gram matrices, the rest through edges; the Gram one is bitwise
    # the single-padding run (the kernels' trajectory does not depend on how paddings are measured).
    mixed = ep.run_batched(d.k, d.x, "cs", "adam", 0.1, 25, ["valid"] + pads, gram_paddings=1).numpy()
    alone = ep.run_batched(d.k, d.x, "cs", "adam", 0.1, 25, ["valid"]).numpy()
    np.testing.assert_array_equal(mixed["quad"][:, :, 0], alone["quad"][:, :, 0])
    np.testing.assert_array_equal(mixed["kT"], alone["kT"])
    np.testing.assert_allclose(mixed["quad"][:, :, 1:], b["quad"], rtol=1e-10, atol=1e-12)
    # P = N-1 measured through G equals the Fourier (identity) path used when full padding is alone.
    full = ep.run_batched(d.k, d.x, "cs", "adam", 0.1, 25, ("full",)).numpy()
    np.testing.assert_allclose(full["quad"][:, :, 0], b["quad"][:, :, 3], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("objective", ["kernel", "cs"])
def test_kernel_size_one_sweep(objective):
    d = _draw(1)
    pads = [0, "same", "full"]
    b = ep.run_batched(d.k, d.x, objective, "sgd", 0.05, 10, pads).numpy()
    nv = naive.run_naive(d.k, d.x, objective, "sgd", 0.05, 10, pads)
    _assert_same(b, nv)


def test_python_adam_matches_fused_adam():
    d = _draw(5, episodes=4)
    a = ep.run_batched(d.k, d.x, "cs", "adam", 0.1, 50, adam="fused").numpy()
    b = ep.run_batched(d.k, d.x, "cs", "adam", 0.1, 50, adam="python").numpy()
    np.testing.assert_allclose(a["kT"], b["kT"], rtol=0, atol=1e-12)


def _torch_objective(k1, k2, objective):
    if objective == "kernel":
        return (k1 * k2).sum() ** 2
    n = k1.shape[0]
    c = torch.nn.functional.conv1d(torch.nn.functional.pad(k2[None, None], (n - 1, n - 1)), k1[None, None])
    return (c ** 2).sum()


@pytest.mark.parametrize("objective", ["kernel", "cs"])
@pytest.mark.parametrize("n", [1, 2, 3, 6, 16])
def test_closed_form_gradient_matches_autograd(objective, n):
    rng = np.random.default_rng(n)
    k = rng.uniform(-1, 1, size=(5, 2, n))
    p = torch.as_tensor(k).permute(1, 2, 0).contiguous()
    out = torch.empty(5, dtype=torch.float64)
    grad = ep._Objective(objective, ep._DFT(n, torch.float64, "cpu"))(p, out)
    for e in range(5):
        kk = torch.as_tensor(k[e]).clone().requires_grad_(True)
        val = _torch_objective(kk[0], kk[1], objective)
        (g,) = torch.autograd.grad(val, kk)
        assert out[e].item() == pytest.approx(val.item(), rel=1e-12, abs=1e-14)
        np.testing.assert_allclose(grad[:, :, e].numpy(), g.numpy(), rtol=1e-11, atol=1e-13)
        # the naive loop's NumPy gradient as well
        v2, g1, g2 = naive.objective_and_grad(k[e, 0], k[e, 1], objective)
        np.testing.assert_allclose(np.stack((g1, g2)), g.numpy(), rtol=1e-11, atol=1e-13)


def test_batch_of_episodes_equals_episodes_run_alone():
    """Adam on the batch = independent Adams (loss is a sum over episodes; Adam is per coordinate)."""
    d = _draw(4, episodes=5)
    together = ep.run_batched(d.k, d.x, "cs", "adam", 0.1, 60).numpy()
    for e in range(5):
        alone = ep.run_batched(d.k[e:e + 1], d.x[e:e + 1], "cs", "adam", 0.1, 60).numpy()
        np.testing.assert_allclose(together["kT"][e], alone["kT"][0], rtol=0, atol=1e-13)
        np.testing.assert_allclose(together["objective"][:, e], alone["objective"][:, 0], rtol=1e-12, atol=0)


@pytest.mark.parametrize("objective", ["kernel", "cs"])
def test_matches_torch_optim_adam(objective):
    """Our batched Adam = torch.optim.Adam (defaults, single-tensor path) per episode."""
    d = _draw(3, episodes=2)
    ours = ep.run_batched(d.k, d.x, objective, "adam", 0.1, 40).numpy()
    for e in range(2):
        k = torch.nn.Parameter(torch.as_tensor(d.k[e]).clone())
        opt = torch.optim.Adam([k], lr=0.1, foreach=False)
        for _ in range(40):
            opt.zero_grad()
            _torch_objective(k[0], k[1], objective).backward()
            opt.step()
        np.testing.assert_allclose(ours["kT"][e], k.detach().numpy(), rtol=0, atol=1e-11)


def test_sgd_step_is_plain_gradient_descent():
    d = _draw(3, episodes=2)
    one = ep.run_batched(d.k, d.x, "kernel", "sgd", 0.1, 1).numpy()
    dd = np.sum(d.k[:, 0] * d.k[:, 1], axis=1)[:, None]
    expect = np.stack((d.k[:, 0] - 0.1 * 2 * dd * d.k[:, 1], d.k[:, 1] - 0.1 * 2 * dd * d.k[:, 0]), axis=1)
    np.testing.assert_allclose(one["kT"], expect, rtol=1e-14, atol=1e-15)


def test_recorded_t0_is_before_any_step_and_matches_feature_maps():
    d = _draw(3, episodes=2)
    b = ep.run_batched(d.k, d.x, "cs", "sgd", 0.1, 3, ("full", "valid")).numpy()
    np.testing.assert_array_equal(b["k0"], d.k)
    for e in range(2):
        for j, mode in enumerate(("full", "valid")):
            f1 = np.correlate(d.x[e], d.k[e, 0], mode)
            f2 = np.correlate(d.x[e], d.k[e, 1], mode)
            np.testing.assert_allclose(b["quad"][0, e, j], [f1 @ f1, f1 @ f2, f2 @ f2], rtol=1e-12)


def test_draws_prefix_property_and_config_seeds():
    cfgs = configs_for("cs_full")
    small = ep.draw_for_config(0, cfgs[0], 5)
    big = ep.draw_for_config(0, cfgs[0], 50)
    np.testing.assert_array_equal(small.k, big.k[:5])
    np.testing.assert_array_equal(small.x, big.x[:5])
    assert small.x.shape == (5, M) and small.k.shape == (5, 2, cfgs[0].n)
    assert np.all((big.k >= -1) & (big.k < 1)) and np.all((big.x >= 0) & (big.x < 1))
    other = ep.draw_for_config(0, cfgs[1], 5)                 # same N, other optimiser: other draw
    assert not np.array_equal(small.k, other.k)
    assert not np.array_equal(ep.draw_for_config(1, cfgs[0], 5).k, small.k)
    assert config_seed(0, "cs_full", 3, "adam").entropy == config_seed(0, "cs_full", 3, "adam").entropy


def test_float32_runs_close_to_float64():
    d = _draw(3, episodes=4)
    a = ep.run_batched(d.k, d.x, "cs", "adam", 0.1, 20, dtype=torch.float64).numpy()
    b = ep.run_batched(d.k, d.x, "cs", "adam", 0.1, 20, dtype=torch.float32).numpy()
    np.testing.assert_allclose(b["kT"], a["kT"], rtol=0, atol=1e-4)


def test_divergence_is_counted_not_dropped():
    d = _draw(3, episodes=6)
    d.k[:3] *= 50.0                                           # SGD on a quartic blows these up
    b = ep.run_batched(d.k, d.x, "cs", "sgd", 0.5, 30).numpy()
    nv = naive.run_naive(d.k, d.x, "cs", "sgd", 0.5, 30)
    row_b = summarize(b["objective"], b["quad"][:, :, 0], b["k0"], b["kT"])
    row_n = summarize(nv["objective"], nv["quad"][:, :, 0], nv["k0"], nv["kT"])
    assert row_b["diverged"] == row_n["diverged"] >= 1
    assert row_b["episodes"] == 6 and row_b["finite"] == 6 - row_b["diverged"]
    assert row_b["reduction_freq"] <= 100.0 * (6 - row_b["diverged"]) / 6


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_absent_is_a_clear_error():
    with pytest.raises(ValueError, match="--device"):
        resolve_device("cuda")
    d = _draw(2, episodes=1)
    with pytest.raises(ValueError, match="no CUDA device"):
        ep.run_batched(d.k, d.x, "cs", "adam", 0.1, 2, device="cuda")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device present")
def test_cuda_matches_cpu():
    d = _draw(5, episodes=8)
    for pads in (("full",), ("valid", "same")):
        a = ep.run_batched(d.k, d.x, "cs", "adam", 0.1, 50, pads).numpy()
        b = ep.run_batched(d.k, d.x, "cs", "adam", 0.1, 50, pads, device="cuda").numpy()
        np.testing.assert_allclose(b["kT"], a["kT"], rtol=0, atol=1e-10)


def test_unknown_objective_and_optimizer():
    d = _draw(2, episodes=1)
    with pytest.raises(ValueError, match="objective"):
        ep.run_batched(d.k, d.x, "cosine", "adam", 0.1, 2)
    with pytest.raises(ValueError, match="optimizer"):
        ep.run_batched(d.k, d.x, "cs", "rmsprop", 0.1, 2)


@pytest.mark.parametrize("n", [1, 2, 3, 9, 16])
def test_dft_operands_give_parseval_and_the_runner_spectra(n):
    """L_CS = (1/L) Σ_ω |K̂1|²|K̂2|² folds onto the half spectrum with the multiplicities (CS eq. 8), and the
    runner's (2N, N) DFT operand is the registered kernel spectrum."""
    rng = np.random.default_rng(n)
    k1, k2 = rng.uniform(-1, 1, (2, n))
    re, im, mult, size = B.dft_operands((n,))
    p1, p2 = (re @ k1) ** 2 + (im @ k1) ** 2, (re @ k2) ** 2 + (im @ k2) ** 2
    assert mult @ (p1 * p2) / size == pytest.approx(R.crosscorrelation_energy(k1[None], k2[None], d=1), rel=1e-12)
    dft = ep._DFT(n, torch.float64, "cpu")
    ab = (dft.fwd @ torch.as_tensor(k1)).numpy()
    ref_re, ref_im = R.kernel_spectrum(k1, d=1)
    np.testing.assert_allclose(ab, np.concatenate((ref_re, ref_im)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(dft.wl.numpy(), mult / size, rtol=1e-15)


def test_gram_matrices_give_the_feature_map_inner_products():
    """The Gram route of Table 6 and of the sweep: K_a^T G_P K_b = <F_a, F_b>_P for every padding form."""
    d = _draw(4, episodes=3)
    pads = ["valid", "same", "full", 2, (0, 3), "same_numpy"]
    g = B.feature_gram_stack(torch.as_tensor(d.x)[:, None, :], (4,), pads, d=1).numpy()
    for e in range(3):
        for j, pad in enumerate(pads):
            k1, k2 = d.k[e]
            want = R.feature_inner_product(d.x[e][None], k1[None], k2[None], pad, d=1)
            assert k1 @ g[e, j] @ k2 == pytest.approx(want, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("optimizer,lr", [("adam", 0.1), ("sgd", 0.2)])
def test_fixed_norm_keeps_each_kernels_norm_and_matches_projected_torch_adam(optimizer, lr):
    """The fixed-norm control: every step of the optimiser, then each kernel rescaled to its initial norm."""
    d = _draw(3, episodes=4)
    out = ep.run_batched(d.k, d.x, "cs", optimizer, lr, 50, fixed_norm=True).numpy()
    n0 = np.linalg.norm(d.k, axis=2)
    np.testing.assert_allclose(np.linalg.norm(out["kT"], axis=2), n0, rtol=1e-13, atol=0)
    assert np.all(out["objective"][-1] < out["objective"][0])      # L_CS still falls, by turning the kernels
    # the same with torch.optim (projected after each step), one episode at a time
    for e in range(4):
        k = torch.nn.Parameter(torch.as_tensor(d.k[e]).clone())
        opt = (torch.optim.Adam([k], lr=lr, foreach=False) if optimizer == "adam"
               else torch.optim.SGD([k], lr=lr, foreach=False))
        norms = torch.linalg.vector_norm(k.detach(), dim=1, keepdim=True)
        for _ in range(50):
            opt.zero_grad()
            _torch_objective(k[0], k[1], "cs").backward()
            opt.step()
            with torch.no_grad():
                k.mul_(norms / torch.linalg.vector_norm(k, dim=1, keepdim=True))
        np.testing.assert_allclose(out["kT"][e], k.detach().numpy(), rtol=0, atol=1e-10)
