"""``--fail-on``: which conditions a report trips, and how bad conditions are refused."""

import pytest

from ior.audit.gate import EXIT_GATE, gate, parse_fail_on
from ior.cli.main import main


def report(*attacks):
    """A report of one model; each attack is (gap points, ci low, ci high, verdict)."""
    return {"models": [{"name": "m", "attacks": {
        f"a{i}": {"gap": g, "gap_ci": [lo, hi], "verdict": v} for i, (g, lo, hi, v) in enumerate(attacks)}}]}


ILLUSION, GENUINE = "illusion of robustness", "genuine"


def test_illusion_trips_on_an_illusion_verdict_only():
    condition = parse_fail_on("illusion")
    assert gate(report((2.0, 0.5, 3.5, GENUINE), (40.0, 30.0, 50.0, ILLUSION)), [condition]) == [
        "m a1: gap +40.0 points [+30.0, +50.0] (illusion)"]
    assert gate(report((2.0, 0.5, 3.5, GENUINE)), [condition]) == []


@pytest.mark.parametrize("text, gap, lo, trips", [
    ("gap>5", 6.0, 1.0, True),
    ("gap>5", 5.0, 1.0, False),         # strictly above
    ("gap>5", 20.0, -1.0, False),       # the interval includes 0: not significant
    ("gap > 0", 0.5, 0.1, True),
    ("GAP>2.5", 2.6, 0.2, True),
    ("gap>.5", 0.4, 0.1, False),
])
def test_gap_threshold_applies_the_verdict_rule_at_its_own_threshold(text, gap, lo, trips):
    # The verdict says genuine here: gap>X does not read it.
    assert bool(gate(report((gap, lo, gap + 1, GENUINE)), [parse_fail_on(text)])) is trips


def test_every_tripped_condition_is_reported():
    conditions = [parse_fail_on("illusion"), parse_fail_on("gap>1")]
    reasons = gate(report((4.0, 1.0, 7.0, ILLUSION), (1.5, 0.5, 2.5, GENUINE)), conditions)
    assert reasons == ["m a0: gap +4.0 points [+1.0, +7.0] (illusion)", "m a0: gap +4.0 points [+1.0, +7.0] (gap>1)",
                       "m a1: gap +1.5 points [+0.5, +2.5] (gap>1)"]
    assert EXIT_GATE == 3


@pytest.mark.parametrize("text", ["illusions", "gap>", "gap<5", "gap>-1", "gap>five", "gap>=5"])
def test_bad_conditions_are_refused(text):
    with pytest.raises(ValueError, match="--fail-on"):
        parse_fail_on(text)


def test_bad_condition_on_the_command_line_is_a_usage_error(tmp_path, capsys):
    status = main(["audit", "--model", "m", "--out", str(tmp_path / "o"), "--fail-on", "gap<5"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1
    assert "argument --fail-on: takes 'illusion' or 'gap>X'" in err and not (tmp_path / "o").exists()
