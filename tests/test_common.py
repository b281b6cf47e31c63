"""experiments.common: statistics against scipy.stats, the verdict rule's laws, the config CLI (flags,
TOML file, --set, precedence, errors), the run loop's identity check and atomic, in-bounds writes."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sps

from experiments.common import cli, stats
from experiments.common.io import check_inside, load_arrays, save_arrays, write_json_atomic
from experiments.common.plan import Plan

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@given(a=st.lists(finite, min_size=2, max_size=12), b=st.lists(finite, min_size=2, max_size=12))
def test_welch_difference_matches_scipy(a, b):
    d = stats.welch_difference(a, b)
    assert d.mean == pytest.approx(np.mean(b) - np.mean(a), abs=1e-9)
    se = math.sqrt(np.var(a, ddof=1) / len(a) + np.var(b, ddof=1) / len(b))
    assert d.se == pytest.approx(se, rel=1e-9, abs=1e-12)
    if se > 1e-6 * (1 + np.abs(a).max() + np.abs(b).max()):
        r = sps.ttest_ind(b, a, equal_var=False)
        assert d.p == pytest.approx(r.pvalue, rel=1e-6, abs=1e-12)


def test_welch_degrees_of_freedom_survive_tiny_variances():
    d = stats.welch_difference([0.0, 0.0], [0.0, 2.3313337025039958e-116])    # found by hypothesis in CI
    assert d.df == pytest.approx(1.0) and d.se > 0


@given(data=st.lists(st.tuples(finite, finite), min_size=2, max_size=12))
def test_paired_difference_matches_scipy(data):
    a, b = [x for x, _ in data], [y for _, y in data]
    d = stats.paired_difference(a, b)
    diffs = np.subtract(b, a)
    assert d.mean == pytest.approx(diffs.mean(), abs=1e-9)
    assert d.se == pytest.approx(diffs.std(ddof=1) / math.sqrt(len(a)), rel=1e-9, abs=1e-12)
    if d.se > 1e-6 * (1 + np.abs(diffs).max()):
        assert d.p == pytest.approx(sps.ttest_rel(b, a).pvalue, rel=1e-6, abs=1e-12)


@given(a=st.lists(finite, min_size=2, max_size=8), shift=st.floats(-10, 10))
def test_paired_difference_of_a_shift_is_the_shift_with_no_error(a, shift):
    d = stats.paired_difference(a, [x + shift for x in a])
    assert d.mean == pytest.approx(shift, abs=1e-9)
    assert d.se == pytest.approx(0.0, abs=1e-9)


def test_pairing_removes_the_seed_variance():
    rng = np.random.default_rng(0)
    seed_effect = rng.normal(0, 1.0, 10)           # large seed-to-seed spread, shared by both arms
    a, b = 0.8 + seed_effect, 0.81 + seed_effect + rng.normal(0, 0.001, 10)
    assert stats.paired_difference(a, b).se < stats.welch_difference(a, b).se / 50


def test_missing_values_are_dropped_pairwise():
    d = stats.paired_difference([1.0, None, 3.0], [2.0, 5.0, None])
    assert (d.mean, d.n, d.se) == (1.0, 1, None)
    with pytest.raises(ValueError, match="b: expected as many"):
        stats.paired_difference([1.0], [1.0, 2.0])


@given(d=finite, se=st.floats(0, 100))
def test_verdict_is_antisymmetric_and_uses_two_standard_errors(d, se):
    v, w = stats.verdict(d, se), stats.verdict(-d, se)
    flip = {"higher": "lower", "lower": "higher", "unresolved": "unresolved"}
    assert w == flip[v]
    assert (v == "unresolved") == (abs(d) <= 2 * se)


def test_verdict_boundary_and_missing():
    assert stats.verdict(2.0, 1.0) == "unresolved" and stats.verdict(2.0001, 1.0) == "higher"
    assert stats.verdict(None, 1.0) is None and stats.verdict(1.0, None) is None


def test_mean_std():
    assert stats.mean_std([1.0, None, 3.0]) == (2.0, pytest.approx(math.sqrt(2)), 2)
    assert stats.mean_std([5.0]) == (5.0, None, 1)
    assert stats.mean_std([None]) == (None, None, 0)


def test_median_ci_covers_the_median_at_the_stated_rate():
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(400):
        m, (lo, hi) = stats.median_ci(rng.normal(size=101))
        hits += lo <= 0.0 <= hi
    assert 0.92 <= hits / 400 <= 0.99


def test_bootstrap_mean_interval_matches_a_direct_resampling():
    rng = np.random.default_rng(2)
    v = rng.normal(size=200)
    b = stats.Bootstrap(200, 500, np.random.SeedSequence(3))
    (lo, hi), _ = b.mean_std(v)
    direct = (b.w @ v) / 200.0                      # the same resamples, the mean computed directly
    assert [lo, hi] == pytest.approx(list(np.percentile(direct, [2.5, 97.5])), rel=1e-12)
    assert lo < v.mean() < hi


# ---- CLI ----------------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Demo:
    episodes: int = cli.option(1000, "episodes per row")
    lr: float = cli.option(0.01, "learning rate")
    mode: str = cli.option("fast", "how", choices=("fast", "slow"))
    sizes: list[int] = cli.option(help="kernel sizes", factory=lambda: [3, 9])
    plot: bool = cli.option(True, "draw figures")
    tag: str | None = cli.option(None, "a tag")


def _parser():
    p = argparse.ArgumentParser(prog="demo", exit_on_error=False)
    cli.add_config_arguments(p, Demo)
    return p


def test_defaults_and_flags():
    assert cli.config_from_args(Demo, _parser().parse_args([])) == Demo()
    c = cli.config_from_args(Demo, _parser().parse_args(
        ["--episodes", "5", "--sizes", "2", "3", "--no-plot", "--mode", "slow", "--tag", "x", "--lr", "1e-3"]))
    assert c == Demo(episodes=5, lr=1e-3, mode="slow", sizes=[2, 3], plot=False, tag="x")


def test_help_shows_defaults_and_choices():
    h = _parser().format_help()
    assert "episodes per row (default: 1000)" in h and "{fast,slow}" in h and "(default: 3 9)" in h


def test_bad_values_name_the_flag(capsys):
    p = argparse.ArgumentParser(prog="demo")
    cli.add_config_arguments(p, Demo)
    with pytest.raises(SystemExit) as e:
        p.parse_args(["--episodes", "many"])
    assert e.value.code == 2 and "--episodes" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        p.parse_args(["--mode", "medium"])


def test_config_file_set_and_flag_precedence(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('episodes = 7\nmode = "slow"\nsizes = [5]\nlr = 1\n')
    c = cli.config_from_args(Demo, _parser().parse_args(["--config", str(f), "--set", "episodes=8"]))
    assert (c.episodes, c.mode, c.sizes, c.lr) == (8, "slow", [5], 1.0)
    c = cli.config_from_args(Demo, _parser().parse_args(["--config", str(f), "--set", "episodes=8",
                                                          "--episodes", "9"]))
    assert c.episodes == 9


def test_print_config_round_trips(tmp_path):
    c = Demo(episodes=3, mode="slow", sizes=[1, 2], plot=False)
    f = tmp_path / "c.toml"
    f.write_text(cli.to_toml(c))
    assert cli.config_from_args(Demo, _parser().parse_args(["--config", str(f)])) == c


@pytest.mark.parametrize("args, match", [
    (["--set", "epsiodes=3"], "--set: unknown field 'epsiodes'"),
    (["--set", "episodes"], "--set: expected FIELD=VALUE"),
    (["--set", "episodes=3.5"], "--episodes: expected int"),
    (["--set", "mode=medium"], "--mode: expected one of fast, slow"),
    (["--config", "/nonexistent.toml"], "--config: no such file"),
])
def test_config_errors_name_the_argument(args, match):
    with pytest.raises(cli.UsageError, match=match):
        cli.config_from_args(Demo, _parser().parse_args(args))


def test_config_file_errors(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("episodes = [\n")
    with pytest.raises(cli.UsageError, match="--config: .* is not valid TOML"):
        cli.config_from_args(Demo, _parser().parse_args(["--config", str(f)]))
    f.write_text("nope = 1\n")
    with pytest.raises(cli.UsageError, match="--config: unknown field 'nope'"):
        cli.config_from_args(Demo, _parser().parse_args(["--config", str(f)]))


def test_checks():
    assert cli.check_int("episodes", np.int64(3), 1) == 3
    for bad in (0, True, 2.0, "3"):
        with pytest.raises(cli.UsageError, match="--episodes: expected an integer"):
            cli.check_int("episodes", bad, 1)
    with pytest.raises(cli.UsageError, match="--lr: expected a positive finite number"):
        cli.check_number("lr", float("nan"))
    assert cli.check_choices("tables", [6, 1, 6], (1, 2, 3, 6)) == [1, 6]
    with pytest.raises(cli.UsageError, match="--tables: unknown 4"):
        cli.check_choices("tables", [4], (1, 2, 3, 6))


def test_check_out_dir(tmp_path):
    for bad in ("", "  ", None):
        with pytest.raises(cli.UsageError, match="--out: expected a directory path"):
            cli.check_out_dir("out", bad)
    (tmp_path / "f").write_text("x")
    with pytest.raises(cli.UsageError, match="exists and is not a directory"):
        cli.check_out_dir("out", tmp_path / "f")
    assert not (tmp_path / "new").exists() and cli.check_out_dir("out", tmp_path / "new") == tmp_path / "new"
    assert not (tmp_path / "new").exists()


# ---- run loop and I/O -----------------------------------------------------------------------------------------

def _plan(tmp_path, calls):
    def execute(it, dest):
        calls.append(it["name"])
        return {"config": {"x": it["x"], "epochs": it["epochs"]}, "y": it["x"]}
    return Plan(dest=lambda it: tmp_path / f"{it['name']}.json",
                identity=lambda it: {"x": it["x"], "epochs": it["epochs"]}, execute=execute, log=lambda m: None)


def test_plan_skips_done_runs_and_refuses_changed_settings(tmp_path):
    calls = []
    items = [{"name": "a", "x": 1, "epochs": 5}, {"name": "b", "x": 2, "epochs": 5}]
    _plan(tmp_path, calls).run(items)
    _plan(tmp_path, calls).run(items)
    assert calls == ["a", "b"]
    changed = [{"name": "a", "x": 1, "epochs": 1}, {"name": "c", "x": 3, "epochs": 1}]
    with pytest.raises(cli.UsageError, match=r"different settings .*'epochs': \(5, 1\)"):
        _plan(tmp_path, calls).run(changed)
    assert calls == ["a", "b"] and not (tmp_path / "c.json").exists()      # refused before any work


def test_plan_dry_run_writes_nothing(tmp_path):
    calls = []
    _plan(tmp_path, calls).run([{"name": "a", "x": 1, "epochs": 1}], dry_run=True)
    assert calls == [] and list(tmp_path.iterdir()) == []


def test_atomic_json_and_arrays(tmp_path):
    write_json_atomic(tmp_path / "r.json", {"v": float("nan"), "t": (1, 2)})
    assert json.loads((tmp_path / "r.json").read_text()) == {"v": None, "t": [1, 2]}
    save_arrays(tmp_path / "a.npz", {"x": np.arange(3)})
    assert load_arrays(tmp_path / "a.npz")["x"].tolist() == [0, 1, 2]
    assert load_arrays(tmp_path / "none.npz") is None
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_check_inside(tmp_path):
    assert check_inside(tmp_path / "a" / "b", tmp_path) == (tmp_path / "a" / "b").resolve()
    with pytest.raises(ValueError, match="--out: .* lies outside"):
        check_inside(tmp_path / ".." / "x", tmp_path, "--out")
