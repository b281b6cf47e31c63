"""Running statistics (:mod:`experiments.montecarlo.running`) against the stored-trajectory ones: the same
episode statistics, the same row summaries, the same rendered tables; the block merge as a law."""

from __future__ import annotations

import math
import re
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.common.episode_stats import episode_correlations
from experiments.common.stats import Bootstrap
from experiments.montecarlo import episodes as ep
from experiments.montecarlo import metrics as mt
from experiments.montecarlo import run as mrun
from experiments.montecarlo import running
from experiments.montecarlo.report import render
from experiments.montecarlo.spec import RunOptions

CASES = [  # objective, optimizer, lr, N, paddings, gram_paddings, iterations
    ("kernel", "adam", 0.1, 2, ("full",), None, 100),        # full padding from the spectra
    ("cs", "sgd", 0.05, 3, ("full",), None, 47),             # 48 steps: exactly one block
    ("cs", "adam", 0.1, 9, ("valid",), None, 96),            # Gram route, 97 steps = 48 + 48 + 1
    ("cs", "adam", 0.1, 5, ("valid", 0, 1, 2, 3, 4, "same"), 1, 60),   # Gram + edges (the sweep); 7 > PAD_CHUNK
]


def _both(case, metrics, e=37):
    objective, opt, lr, n, pads, gram, iters = case
    d = ep.draw_episodes(np.random.SeedSequence([5, n]), e, n)
    d.k[3] *= 1e200                                            # one episode that overflows: not finite
    stored = ep.run_batched(d.k, d.x, objective, opt, lr, iters, pads, gram_paddings=gram).numpy()
    sink = running.RunningStats(metrics, iters + 1, curves=True)
    with np.errstate(all="ignore"):
        stats, curve = ep.run_batched(d.k, d.x, objective, opt, lr, iters, pads, gram_paddings=gram, sink=sink)
    return stored, stats, curve


def _same_summary(a: dict, b: dict, path=""):
    assert a.keys() == b.keys(), path
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, dict):
            _same_summary(x, y, f"{path}/{k}")
        elif isinstance(x, list):
            np.testing.assert_allclose(np.asarray(x, float), np.asarray(y, float), rtol=1e-12, atol=0,
                                       err_msg=f"{path}/{k}")
        elif isinstance(x, float) and isinstance(y, float):
            assert (math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, rel=1e-12, abs=1e-300), f"{path}/{k}"
        else:
            assert x == y, f"{path}/{k}"                       # counts, None: exactly


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}-N{c[3]}-{len(c[4])}pads")
def test_running_statistics_equal_stored_trajectory_ones(case):
    metrics = ("sim", "cos2", "abs")
    with np.errstate(all="ignore"):
        stored, stats, curve = _both(case, metrics)
    boot = Bootstrap(37, 50, 1)
    assert len(stats) == stored["quad"].shape[2]
    for j, st_run in enumerate(stats):
        with np.errstate(all="ignore"):
            st_ref = mt.episode_stats(stored["objective"], stored["quad"][:, :, j], stored["k0"], stored["kT"],
                                      metrics)
        assert not st_ref.finite[3] and st_ref.finite.sum() == 36
        np.testing.assert_array_equal(st_run.finite, st_ref.finite)           # exactly
        np.testing.assert_array_equal(st_run.q0, st_ref.q0)
        np.testing.assert_array_equal(st_run.qT, st_ref.qT)
        for m in metrics:
            np.testing.assert_array_equal(np.isnan(st_run.r[m]), np.isnan(st_ref.r[m]))
            np.testing.assert_allclose(st_run.r[m], st_ref.r[m], rtol=1e-12, atol=1e-13)
            with np.errstate(all="ignore"):
                _same_summary(mt.summarize_stats(st_run, metric=m, bootstrap=boot),
                              mt.summarize_stats(st_ref, metric=m, bootstrap=boot))
    np.testing.assert_array_equal(curve, stored["quad"][running.curve_steps(stored["quad"].shape[0]), :, 0])


def _untimed(text: str) -> str:
    """The markdown without its timing lines (the only ones two runs may differ in)."""
    return "\n".join(x for x in text.splitlines() if not re.search(r"\d s\b|wall", x))


def test_running_and_stored_paths_render_the_same_tables(tmp_path, monkeypatch):
    """The whole `run` with the running sink and with the stored trajectories forced: identical markdown."""
    o = RunOptions(tables=[1, 2, 3, 6], episodes=12, max_iterations=30, bootstrap=30, progress=False, plot=False,
                   padding_sweep=True, fixed_norm=True, cos2_section=True, out=str(tmp_path / "a")).validate()
    texts = []
    for forced in (False, True):
        monkeypatch.setattr(mrun, "needs_trajectories", lambda corr, f=forced: f)
        files, back = mrun.results_files(o, mrun.run_tables(o))
        texts.append({p.name: t for p, t in render(back, o.out, plot=False).items() if p.name.endswith(".md")})
    a, b = texts
    assert a.keys() == b.keys() and "padding_sweep.md" in a
    for k in a:
        assert _untimed(a[k]) == _untimed(b[k]), k


def test_spearman_keeps_the_stored_path():
    assert running.needs_trajectories("spearman") and not running.needs_trajectories("pearson")


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_block_merge_equals_two_pass(data):
    """Law: any split of the steps into blocks gives the two-pass correlation (and the same NaN rule)."""
    t = data.draw(st.integers(2, 40), label="steps")
    e = data.draw(st.integers(1, 4), label="episodes")
    seed = data.draw(st.integers(0, 2 ** 16), label="seed")
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(t, e)) * 10.0 ** rng.integers(-3, 4)
    y = rng.normal(size=(t, e)) + 0.5 * x
    if data.draw(st.booleans(), label="constant column"):
        y[:, 0] = 0.25
    cuts = sorted(data.draw(st.sets(st.integers(1, t - 1), max_size=5), label="cuts"))
    mom = None
    for lo, hi in zip([0, *cuts], [*cuts, t]):
        xs, ys = running._Side(torch.as_tensor(x[lo:hi])), running._Side(torch.as_tensor(y[lo:hi, :, None]))
        mom = running._merge(mom, running._block_moments(xs, ys))
    got = running._pearson(mom)[:, 0]
    want = episode_correlations(x, y)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_finish_refuses_a_short_run():
    sink = running.RunningStats(["sim"], 10)
    sink.add(torch.zeros(3, 2), torch.ones(3, 2, 1, 3))
    with pytest.raises(RuntimeError, match="3 steps recorded, expected 10"):
        sink.finish(torch.zeros(2, 2, 1), torch.zeros(2, 2, 1), ("full",))


def test_memory_does_not_grow_with_iterations():
    """The running sink holds O(E) state: nothing of size T survives a run (the stored one holds T+1 rows)."""
    d = ep.draw_episodes(np.random.SeedSequence([1]), 8, 4)
    sink = running.RunningStats(["sim"], 301)
    ep.run_batched(d.k, d.x, "cs", "sgd", 0.05, 300, ("full",), sink=sink)
    held = [sink.first, sink.last, sink.finite] + [getattr(c, f) for c in sink.moments["sim"]
                                                   for f in ("mx", "m2x", "c")]
    assert all(h.shape[0] == 8 for h in held) and sink.curve_rows == []


def test_the_sweep_case_spans_several_padding_chunks():
    assert len(CASES[-1][4]) > running.PAD_CHUNK
