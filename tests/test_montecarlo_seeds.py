"""Monte Carlo verdicts across seeds: the aggregation against scipy.stats and against single-seed runs, the
per-cell rule, and the pooled Table 3 test against its definition."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy import stats as sps

from experiments.__main__ import main
from experiments.montecarlo.seeds import SE_K, aggregate_row, compare_cell_seeds, pooled_table3

TINY = ["--episodes", "6", "--max-iterations", "6", "--bootstrap", "40", "--no-progress", "--no-report"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _row(v, n_dec):
    return {"n": 3, "paper_row": "smallest", "optimizer": "adam", "lr": 0.1, "iterations": 5, "padding": "full",
            "episodes": 10, "n_dec": n_dec, "n_inc": 10 - n_dec, "reduction_freq": v, "dec_mean": v - 1.0,
            "dec_std": 1.0, "inc_mean": None, "inc_std": None, "corr_mean": 0.5, "cos_before_median": 0.5,
            "cos_after_median": 0.4, "knorm_ratio_median": 0.1, "decorrelation_share": 0.5,
            "log10_sim_ratio_mean": -1.0, "log10_cos2_ratio_mean": -0.5, "log10_fnorm2_ratio_mean": -0.5,
            "cos_before_median_x": 1, "ci": {"reduction_freq": [v - 1, v + 1]},
            "paper": {"reduction_freq": 100.0, "dec_mean": 100.0, "dec_std": 0.0, "inc_mean": 0.0, "inc_std": 0.0}}


def test_aggregate_row_matches_scipy():
    vals = [90.0, 95.0, 97.0, 99.0]
    agg = aggregate_row([_row(v, 9) for v in vals], 3)
    assert agg["reduction_freq"] == pytest.approx(np.mean(vals))
    assert agg["se"]["reduction_freq"] == pytest.approx(sps.sem(vals))
    lo, hi = sps.t.interval(0.95, len(vals) - 1, loc=np.mean(vals), scale=sps.sem(vals))
    assert agg["ci"]["reduction_freq"] == pytest.approx([lo, hi])
    assert agg["episodes"] == 40 and agg["n_dec"] == 36 and agg["seeds"] == 4          # counts are summed
    assert agg["seed_values"]["reduction_freq"] == vals
    assert agg["seed_ci"]["reduction_freq"] == [[v - 1, v + 1] for v in vals]
    assert agg["comparison"]["reduction_freq"]["z"] == pytest.approx((np.mean(vals) - 100) / sps.sem(vals))


@pytest.mark.parametrize("col,mean,se,paper,want", [
    ("reduction_freq", 99.0, 0.5, 100.0, "match"),          # 2 SE
    ("reduction_freq", 98.5, 0.1, 100.0, "close"),          # 15 SE, within 2 points
    ("reduction_freq", 95.0, 0.1, 100.0, "differs"),
    ("corr_mean", 0.505, 0.003, 0.47, "close"),             # the Table 1 N = 16 Adam case: 11.7 SE, 0.035
    ("corr_mean", 0.505, 0.003, 0.40, "differs"),
    ("inc_mean", 200.0, 10.0, 100.0, "close"),              # a factor 2
    ("inc_mean", 2000.0, 10.0, 100.0, "differs"),
])
def test_the_per_cell_rule(col, mean, se, paper, want):
    c = compare_cell_seeds(col, mean, se, paper)
    assert c["status"] == want
    assert c["ci"] == pytest.approx([mean - SE_K * se, mean + SE_K * se])


def test_pooled_table3_against_its_definition():
    rows = [dict(_row(100.0 - 100.0 * f / 2000, 0), n=n, optimizer=o, paper_row="smallest" if n in (2, 3) else n,
                 episodes=2000) for (n, o), f in zip([(3, "adam"), (3, "sgd"), (9, "adam"), (9, "sgd"), (16, "adam"),
                                                     (16, "sgd"), (2, "adam")], (0, 1, 0, 3, 2, 0, 50))]
    pt = pooled_table3(rows, 3)
    assert [(r["n"], r["optimizer"]) for r in pt["rows"]] == [(3, "adam"), (3, "sgd"), (9, "adam"), (9, "sgd"),
                                                             (16, "adam"), (16, "sgd")]          # N = 2 not read
    want = sum(1000 * math.log10(1 - f / 2000) for f in (0, 1, 0, 3, 2, 0))
    assert pt["log10_p"] == pytest.approx(want)
    for r, f in zip(pt["rows"], (0, 1, 0, 3, 2, 0)):
        ci = sps.binomtest(f, 2000).proportion_ci(0.95, method="exact")
        assert r["q_ci"] == pytest.approx([ci.low, ci.high], abs=1e-12)


def test_seeds_run_aggregates_the_single_seed_runs(tmp_path):
    for s in (0, 1):
        assert main(["montecarlo", "run", "--tables", "3", "--seed", str(s), "--out", str(tmp_path / f"s{s}"),
                     *TINY]) == 0
    assert main(["montecarlo", "run", "--tables", "3", "--seeds", "0", "1", "--out", str(tmp_path / "both"),
                 *TINY]) == 0
    single = [json.loads((tmp_path / f"s{s}" / "table3.json").read_text())["rows"] for s in (0, 1)]
    both = json.loads((tmp_path / "both" / "table3.json").read_text())
    assert both["seeds"] == [0, 1] and both["provenance"]["seed"] == [0, 1] and "pooled_test" in both
    for i, r in enumerate(both["rows"]):
        for col in ("reduction_freq", "cos_after_median", "dec_mean"):
            vals = [single[s][i][col] for s in (0, 1)]
            if None in vals:
                continue
            assert r[col] == pytest.approx(np.mean(vals), rel=1e-12)
            assert r["seed_values"][col] == vals
        assert r["episodes"] == 12 and r["seeds"] == 2
    with pytest.raises(SystemExit):
        main(["montecarlo", "run", "--seeds", "1", "1", "--out", str(tmp_path / "bad"), *TINY])
    assert not (tmp_path / "bad").exists()


def test_a_paper_increase_of_zero_is_judged_on_the_pooled_rate():
    # 2 increasing episodes in 10,000: P(none in 1000) = 0.9998^1000 = 0.82 -> consistent with the paper's 0
    c = compare_cell_seeds("inc_mean", 6.85e6, 6.3e6, 0.0, count=2, episodes=10000)
    assert c["status"] == "match" and c["p_zero"] == pytest.approx(0.9998 ** 1000)
    # 40 in 10,000: 0.996^1000 = 0.018 -> not
    assert compare_cell_seeds("inc_mean", 6.85e6, 6.3e6, 0.0, count=40, episodes=10000)["status"] == "differs"
    assert compare_cell_seeds("inc_mean", None, None, 0.0, count=0, episodes=10000)["status"] == "match"
    assert compare_cell_seeds("inc_mean", 5.0, 1.0, 0.0)["status"] == "differs"        # no counts: not judged


def test_seeds_in_worker_processes_give_the_same_documents(tmp_path):
    """--jobs 2 (a spawn pool, one seed per worker) writes what one process writes, timing fields aside."""
    def docs(jobs):
        out = tmp_path / f"j{jobs}"
        assert main(["montecarlo", "run", "--tables", "1", "3", "--seeds", "0", "1", "2", "--jobs", str(jobs),
                     "--out", str(out), "--no-report", *TINY]) == 0
        return {p.name: _untimed(json.loads(p.read_text())) for p in sorted(out.glob("*.json"))}

    one, two = docs(1), docs(2)
    assert one.keys() == two.keys() == {"results.json", "table1.json", "table3.json"}
    assert one == two


def _untimed(doc):
    """A results document without the fields that record time, load or the command line."""
    if isinstance(doc, dict):
        return {k: _untimed(v) for k, v in doc.items()
                if k not in ("wall_time_s", "run_time_s", "started_utc", "command")}
    if isinstance(doc, list):
        return [_untimed(v) for v in doc]
    return doc
