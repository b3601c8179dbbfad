"""Running part of a sweep: ``ior sweep --only`` (a subset of cells) and ``--time-limit`` (expected cell
costs and the time budget)."""

import pytest

from conftest import make_tiny_bert
from ior.experiments.config import load_sweep_config
from ior.experiments.costs import (ExpectedCosts, TimeBudget, cell_seconds, load_estimate, parse_duration,
                                   worker_seconds)
from ior.experiments.grid import plan_sweep, select_cells
from ior.experiments.runner import _next_cells

CONFIG = """\
name: seeds
model: {model}
datasets: [{data}]
seeds: [0, 1, 2]
train: {{epochs: 2, batch_size: 4, max_length: 32}}
methods: [standard]
serve_temperatures: [1, 0.01]
attacks: [dg]
piercings: [none, cal, transfer]
grid:
  - {{}}
  - {{methods: [dg-aug], serve_temperatures: [1], piercings: [none]}}
"""


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.mark.parametrize("text, seconds", [("2h30m", 9000.0), ("90m", 5400.0), ("45s", 45.0), ("5400", 5400.0),
                                           ("1.5h", 5400.0), (" 1h5s ", 3605.0)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2h30", "abc", "0", "0m", "-5", "30x", "m"])
def test_bad_durations_name_the_option(text):
    with pytest.raises(ValueError, match="--time-limit must be"):
        parse_duration(text)


def test_budget_admits_work_that_ends_inside_the_limit_and_unknown_work_while_time_is_left():
    clock = FakeClock()
    budget = TimeBudget(100, clock=clock)
    assert budget.fits(100) and budget.fits(None) and not budget.fits(100.5)
    clock.now += 90
    assert budget.remaining() == 10
    assert budget.fits(10) and not budget.fits(11) and budget.fits(None)
    clock.now += 10
    assert not budget.fits(0) and not budget.fits(None)
    with pytest.raises(ValueError, match="time limit must be positive"):
        TimeBudget(0)


@pytest.fixture()
def plan(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rows = '{"text": "a fine film", "label": "positive"}\n{"text": "a dull film", "label": "negative"}\n'
    for split in ("train", "validation", "test"):
        (data / f"{split}.jsonl").write_text(rows)
    config = tmp_path / "seeds.yaml"
    config.write_text(CONFIG.format(model=make_tiny_bert(tmp_path / "bert"), data=data))
    return plan_sweep(load_sweep_config(config))


def _cell(plan, kind, seed, method="standard", serve=None):
    def seed_of(cell):
        train = cell if cell.kind == "train" else plan.by_key[cell.config["train"]]
        return train.config["train"]["seed"], train.config["train"]["method"]

    return next(c for c in plan.cells if c.kind == kind and seed_of(c) == (seed, method)
                and (serve is None or c.config["serve_temperature"] == serve))


def test_a_cell_is_expected_to_cost_the_most_its_finished_seed_siblings_cost(plan):
    measured = {_cell(plan, "train", 0).key: 300.0, _cell(plan, "train", 1).key: 340.0,
                _cell(plan, "audit", 0, serve=1.0).key: 270.0, _cell(plan, "audit", 0, serve=0.01).key: 320.0,
                _cell(plan, "train", 0, "dg-aug").key: 500.0}
    expected = ExpectedCosts(plan, measured)
    assert expected.get(_cell(plan, "train", 2).key) == (340.0, "seed siblings")
    # Audits are siblings across seeds (their models differ by seed), not across serving temperatures.
    assert expected.get(_cell(plan, "audit", 2, serve=1.0).key) == (270.0, "seed siblings")
    assert expected.get(_cell(plan, "audit", 1, serve=0.01).key) == (320.0, "seed siblings")
    # dg-aug's source model differs per seed: still siblings; a standard model is not dg-aug's sibling.
    assert expected.get(_cell(plan, "train", 2, "dg-aug").key) == (500.0, "seed siblings")
    assert expected.get(_cell(plan, "audit", 2, "dg-aug").key) == (None, "unknown")
    # A cell the sweep finishes prices its siblings from then on.
    expected.record(_cell(plan, "audit", 1, "dg-aug").key, 90.0)
    assert expected.get(_cell(plan, "audit", 2, "dg-aug").key) == (90.0, "seed siblings")
    expected.record(_cell(plan, "train", 2).key, 400.0)
    assert expected.seconds(_cell(plan, "train", 0).key) == 400.0


def test_a_training_cell_is_priced_at_the_wall_time_it_held_its_worker_not_its_training_time():
    """dg-aug's DeepWordBug pass over the training set, loading and saving come before and after the
    trainer's clock (repro-cpu: 1,099 s held against 436 s trained); a resumed cell's training time
    spans every attempt, its wall time only the last."""
    dg_aug = {"kind": "train", "result": {"train_seconds": 436.0}, "elapsed_seconds": 1099.0}
    resumed = {"kind": "train", "result": {"train_seconds": 900.0}, "elapsed_seconds": 300.0}
    audit = {"kind": "audit", "result": {}, "elapsed_seconds": 250.0}
    assert [worker_seconds(c) for c in (dg_aug, resumed, audit)] == [1099.0, 900.0, 250.0]
    assert worker_seconds({"kind": "audit", "result": {}, "elapsed_seconds": None}) is None


def test_a_sharded_audit_costs_its_core_seconds_but_holds_its_worker_for_its_wall_time():
    """Three shards on two cores: the store's core-seconds (every process's CPU time) price the cell for
    an estimate; a time limit sees the wall time the worker was held. An audit stored before core-seconds
    were recorded falls back to its wall time for both."""
    sharded = {"kind": "audit", "result": {}, "elapsed_seconds": 7200.0, "core_seconds": 13000.0}
    old = {"kind": "audit", "result": {}, "elapsed_seconds": 6500.0}
    trained = {"kind": "train", "result": {"train_seconds": 436.0}, "elapsed_seconds": 500.0, "core_seconds": None}
    assert [cell_seconds(c) for c in (sharded, old, trained)] == [13000.0, 6500.0, 436.0]
    assert [worker_seconds(c) for c in (sharded, old, trained)] == [7200.0, 6500.0, 500.0]


def test_the_estimate_file_prices_the_cells_no_seed_sibling_has_measured(plan, tmp_path):
    measured, guessed = _cell(plan, "train", 2).key, _cell(plan, "audit", 2, serve=1.0).key
    path = tmp_path / "estimate.json"
    path.write_text('{"cells": [{"key": "%s", "expected_seconds": 42}, {"key": "%s", "expected_seconds": 7}]}'
                    % (measured, guessed))
    expected = ExpectedCosts(plan, {_cell(plan, "train", 0).key: 300.0}, load_estimate(path))
    assert expected.get(measured) == (300.0, "seed siblings")  # this machine's measurement beats a guess
    assert expected.get(guessed) == (7.0, "estimate")
    assert expected.get(_cell(plan, "audit", 1, serve=1.0).key) == (None, "unknown")
    path.write_text('{"cells": [{"key": "x"}]}')
    with pytest.raises(ValueError, match="not an estimate file"):
        load_estimate(path)


def test_only_selects_the_matching_cells_and_every_training_cell_they_need(plan):
    subset = select_cells(plan, r"audit data dg-aug seed=2")
    labels = [f"{c.kind} {c.label}" for c in subset.cells]
    # dg-aug's model, and the standard model its augmentation attacks, in plan order (training first).
    assert labels == ["train data standard seed=2", "train data dg-aug seed=2", "audit data dg-aug seed=2 T_d=1"]
    assert all(subset.by_key[c.key] is plan.by_key[c.key] for c in subset.cells)  # same cells, same keys
    assert len(select_cells(plan, "seed=[12]").cells) == len(plan.cells) * 2 // 3
    with pytest.raises(ValueError, match=r"--only 'seed=7' matches none of the 15 cells .*'<kind> <label>'"):
        select_cells(plan, "seed=7")
    with pytest.raises(ValueError, match=r"--only 'seed=\[' is not a regular expression"):
        select_cells(plan, "seed=[")


def test_a_cell_that_does_not_fit_gives_way_to_a_shorter_one_further_down(plan):
    train = [c for c in plan.cells if c.kind == "train" and not c.requires]
    pending = {c.key: c for c in train}
    long_first = {train[0].key: 5000.0, train[1].key: 50.0, train[2].key: None}
    budget = TimeBudget(100, clock=FakeClock())
    fits = lambda key: budget.fits(long_first[key])  # noqa: E731
    assert _next_cells(pending, set(), free=2, fits=fits) == [train[1].key, train[2].key]
    assert _next_cells(pending, set(), free=2) == [train[0].key, train[1].key]
