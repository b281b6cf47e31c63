"""Long runs, behind the ``slow`` marker (``python3 -m pytest -m slow``)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import reference as R
from tests.strategies import UNIT, arrays, input_shape, kernel_shape, padding

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.data())
def test_identity_at_paper_sizes(data):
    """Eq. 19 at the Monte Carlo sizes (M = 64, N up to 16) and with several channels in 2-D."""
    d = data.draw(st.sampled_from([1, 2]), label="d")
    c = data.draw(st.integers(1, 4 if d == 1 else 3), label="C")
    kshape = kernel_shape(data, d, max_n=16 if d == 1 else 5)
    ishape = input_shape(data, kshape, extra=64 - max(kshape) if d == 1 else 8)
    x = arrays(data, (c, *ishape), "x", UNIT)
    k1, k2 = arrays(data, (c, *kshape), "k1"), arrays(data, (c, *kshape), "k2")
    pad = padding(data, kshape, ishape)
    direct = R.feature_inner_product(x, k1, k2, pad, d=d)
    scale = R.feature_inner_product(np.abs(x), np.abs(k1), np.abs(k2), "full", d=d)
    assert abs(direct - R.identity_inner_product(x, k1, k2, pad, d=d)) <= 1e-12 * scale + 1e-300


@pytest.mark.slow
def test_committed_montecarlo_tables_are_what_the_code_produces(tmp_path):
    """The README's run command regenerates the committed tables' numbers exactly (same machine type)."""
    subprocess.run([sys.executable, "-m", "experiments", "tables", "--tables", "1", "2", "3", "6",
                    "--episodes", "1000", "--seed", "0", "--device", "cpu", "--out", str(tmp_path),
                    "--no-progress", "--no-plot"], check=True, cwd=ROOT)
    fields = ("n", "optimizer", "diverged", "corr_mean", "corr_std", "reduction_freq", "dec_mean", "inc_mean")
    for t in (1, 2, 3, 6):
        new = json.loads((tmp_path / f"table{t}.json").read_text())["rows"]
        old = json.loads((ROOT / "reports" / "montecarlo" / f"table{t}.json").read_text())["rows"]
        assert [[r.get(f) for f in fields] for r in new] == [[r.get(f) for f in fields] for r in old], f"table {t}"


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["cs", "mfd", "pod"])
def test_committed_training_reports_regenerate_from_their_results(tmp_path, experiment):
    """``python -m experiments <cs|mfd|pod> report`` renders the committed results into a temporary directory
    exactly as the committed ``reports/<experiment>/REPORT.md``, with the same figures."""
    committed = ROOT / "reports" / experiment
    subprocess.run([sys.executable, "-m", "experiments", experiment, "report", "--results",
                    f"reports/{experiment}/results", "--out", str(tmp_path)], check=True, cwd=ROOT,
                   capture_output=True)
    assert (tmp_path / "REPORT.md").read_text() == (committed / "REPORT.md").read_text()
    figs = sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert figs == sorted(p.name for p in (committed / "figures").iterdir()) and figs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["REPORT.md", "figures"]
