"""The claims table's decision rule: each verdict on a constructed case, and Holm's family adjustment."""

import pytest

from experiments.common.claims import Claim, adjust, claims_table, decide, paired_claim, steps_claim


def _c(diff, ci, p=None, paper_effect=None, margin=None):
    return Claim("P", "c", "proto", paper_effect=paper_effect, n=5, diff=diff, ci=ci, p=p, margin=margin)


@pytest.mark.parametrize("claim,want", [
    (_c(3.0, (1.0, 5.0), p=0.01, paper_effect=4.5), "supported"),
    (_c(-3.0, (-5.0, -1.0), p=0.01, paper_effect=4.5), "not supported"),          # significant, wrong sign
    (_c(0.2, (-0.5, 0.9), p=0.4, paper_effect=4.5), "not supported"),             # rules out the paper's +4.5
    (_c(1.0, (-1.0, 5.0), p=0.2, paper_effect=4.5), "undecided at this power"),   # holds 0 and +4.5
    (_c(-1.0, (-3.0, 0.5), p=0.2, paper_effect=-2.0), "undecided at this power"),
    (_c(-1.0, (-1.5, 0.5), p=0.2, paper_effect=-2.0), "not supported"),           # negative claim, ruled out
    (_c(0.1, (-0.3, 0.4), margin=0.5), "supported"),                              # equivalence within ±0.5
    (_c(0.1, (-0.7, 0.4), margin=0.5), "undecided at this power"),
    (_c(1.0, (0.6, 1.4), margin=0.5), "not supported"),
    (_c(None, None), "undecided at this power"),
])
def test_decision_rule(claim, want):
    assert decide(claim) == want


def _r(reached, sign=-1):
    return Claim("P", "steps", "proto", n=reached[2], unit="steps", sign=sign, reached=reached)


@pytest.mark.parametrize("claim,want", [
    (_r((6, 0, 6)), "not supported"),          # "fewer steps": every control run got there, no treatment run did
    (_r((0, 6, 6)), "supported"),              # only the treatment runs got there
    (_r((6, 0, 6), sign=1), "supported"),      # "more steps" claimed: the treatment never arriving is more
    (_r((5, 0, 6)), "undecided at this power"),  # one control run did not arrive either: no clean split
    (_r((0, 0, 6)), "undecided at this power"),
    (_r((0, 0, 0)), "undecided at this power"),
])
def test_a_target_one_arm_never_reaches_decides_without_a_test(claim, want):
    assert decide(claim) == want
    assert adjust([claim])[0].verdict == want            # Holm's re-decision keeps it (no p-value to adjust)


@pytest.mark.parametrize("a,b,want,n,note", [
    ([100, 120, 110], [80, 90, 95], "tested", 3, ""),                        # all pairs arrive: the paired test
    ([100, 120, 110], [80, None, 95], "tested", 2, "1 pairs never reached it"),
    ([100, 120, 110], [None, None, None], "not supported", 3, "ctl reached it in 3 of 3 runs, trt in 0"),
    ([None, None, None], [80, 90, 95], "supported", 3, "ctl reached it in 0 of 3 runs, trt in 3"),
    ([100, None, 110], [None, 90, None], "undecided at this power", 3, "ctl reached it in 2 of 3 runs, trt in 1"),
    ([None, None], [None, None], "undecided at this power", 2, "ctl reached it in 0 of 2 runs, trt in 0"),
])
def test_steps_claim_keeps_the_row_whoever_arrives(a, b, want, n, note):
    c = steps_claim("P", "faster", a, b, protocol="p", names=("ctl", "trt"))
    assert c.n == n and c.note == note and c.unit == "steps" and c.sign == -1
    if want == "tested":
        keep = [(p, q) for p, q in zip(a, b) if q is not None]
        assert c.reached is None and c.diff == pytest.approx(sum(q - p for p, q in keep) / len(keep))
    else:
        assert c.diff is None and c.verdict == want and adjust([c])[0].verdict == want


def test_steps_claim_without_pairs_or_with_unpaired_lists():
    assert steps_claim("P", "faster", [], [], protocol="p") is None
    with pytest.raises(ValueError, match="a, b: paired steps"):
        steps_claim("P", "faster", [1, 2], [1], protocol="p")


def test_paired_claim_numbers_and_adjustment():
    a = [0.80, 0.81, 0.82, 0.79]
    b = [0.83, 0.845, 0.85, 0.815]
    c = paired_claim("CS", "x", a, b, protocol="p", paper_effect=4.5, scale=100)
    assert c.n == 4 and c.diff == pytest.approx(3.0)      # differences 3, 3.5, 3, 2.5 pp
    assert c.ci[0] < c.diff < c.ci[1] and c.p < 0.01 and c.mde is not None
    # a second, null comparison in the family: Holm multiplies the smallest p by 2
    d = paired_claim("CS", "y", a, [x + e for x, e in zip(a, (0.01, -0.01, 0.005, -0.004))], protocol="p",
                     paper_effect=2.5, scale=100)
    fam = adjust([c, d])
    assert c.p < d.p
    assert fam[0].p_adj == pytest.approx(2 * c.p) and fam[1].p_adj == pytest.approx(max(2 * c.p, d.p))
    assert fam[0].verdict == "supported" and fam[1].verdict == "not supported"
    assert len(claims_table(fam)[0]) == 11
    from experiments.common.power import paired_power
    sd = (c.ci[1] - c.ci[0]) / 2 / 3.182446305284263 * 2        # t_{0.975, 3} = 3.1824; SD = SE * sqrt(4)
    assert paired_power(4.5, sd, c.n_needed) >= 0.8 > paired_power(4.5, sd, c.n_needed - 1)
    one = paired_claim("CS", "z", [0.8], [0.9], protocol="p", paper_effect=1.0, scale=100)
    assert one.ci is None and one.verdict == "undecided at this power" and one.n == 1


def test_claims_report_adjusts_over_every_file_and_writes_only_its_out(tmp_path, capsys):
    import dataclasses
    import json

    from experiments.__main__ import main

    a = [0.80, 0.81, 0.82, 0.79]
    strong = paired_claim("CS", "strong", a, [x + d for x, d in zip(a, (0.03, 0.035, 0.03, 0.025))],
                          protocol="p", paper_effect=4.5, scale=100)
    weak = paired_claim("MFD", "weak", a, [x + d for x, d in zip(a, (0.012, 0.002, 0.011, 0.001))],
                        protocol="p", paper_effect=0.73, scale=100)
    (tmp_path / "cs").mkdir()
    (tmp_path / "mfd").mkdir()
    (tmp_path / "cs" / "claims.json").write_text(json.dumps({"claims": [dataclasses.asdict(strong)]}))
    (tmp_path / "mfd" / "claims.json").write_text(json.dumps({"claims": [dataclasses.asdict(weak)]}))
    out = tmp_path / "out"
    assert main(["claims", "report", "--inputs", str(tmp_path / "cs" / "claims.json"),
                 str(tmp_path / "mfd" / "claims.json"), str(tmp_path / "nope.json"), "--out", str(out)]) == 0
    got = json.loads((out / "claims.json").read_text())["claims"]
    assert [r["p_adj"] for r in got] == pytest.approx([2 * strong.p, max(2 * strong.p, weak.p)])
    text = (out / "CLAIMS.md").read_text()
    assert "strong" in text and "weak" in text and "not found" in text and "nope.json" in text
    assert sorted(p.name for p in out.iterdir()) == ["CLAIMS.md", "claims.json"]
    (tmp_path / "bad.json").write_text(json.dumps({"claims": [{"paper": "x"}]}))
    with pytest.raises(SystemExit) as e:
        main(["claims", "report", "--inputs", str(tmp_path / "bad.json"), "--out", str(tmp_path / "o2")])
    assert e.value.code == 2 and "claims[0]" in capsys.readouterr().err and not (tmp_path / "o2").exists()


def test_claims_report_rewrites_only_the_readme_block(tmp_path, capsys):
    import dataclasses
    import json

    from experiments.__main__ import main
    from experiments.claims.cli import BEGIN, END

    a = [0.80, 0.81, 0.82, 0.79]
    row = paired_claim("CS", "a claim with |Δ| in it", a, [x + 0.03 for x in a], protocol="p", paper_effect=4.5,
                       scale=100)
    (tmp_path / "claims.json").write_text(json.dumps({"claims": [dataclasses.asdict(row)]}))
    readme = tmp_path / "README.md"
    head, tail = "# Title\n\nbefore\n", "\nafter, with 1.25 kept\n"
    readme.write_text(f"{head}{BEGIN}\nold table\n{END}{tail}")
    argv = ["claims", "report", "--inputs", str(tmp_path / "claims.json"), "--out", str(tmp_path / "out"),
            "--readme", str(readme)]
    assert main(argv) == 0
    text = readme.read_text()
    assert text.startswith(head + BEGIN + "\n| paper") and text.endswith(END + tail)
    block = text.split(BEGIN)[1].split(END)[0]
    assert "old table" not in block and "a claim with \\|Δ\\| in it" in block and "+3.00 pp" in block
    assert len(block.strip().splitlines()) == 3                                  # header, rule, one row
    assert main(argv) == 0 and readme.read_text() == text                     # idempotent
    for bad in (f"{head}no markers{tail}", f"{END}\n{BEGIN}\n", f"{BEGIN}\n{BEGIN}\n{END}\n"):
        readme.write_text(bad)
        with pytest.raises(SystemExit) as e:
            main([*argv[:-1], str(readme)])
        assert e.value.code == 2 and "--readme" in capsys.readouterr().err
        assert readme.read_text() == bad
