"""Grid expansion and cell keys: the same configuration gives the same keys, any change a new one."""

import copy

import pytest

from ior.experiments.config import parse_sweep_config
from ior.experiments.grid import canonical_json, config_key, plan_sweep, seedless

IDENTITIES = {"model": {"spec": "minilm", "weights_sha256": "w0"},
              "datasets": {"rt": {"fingerprints": {"train": "a", "validation": "b", "test": "c"}}}}

BASE = {
    "name": "g", "model": "minilm", "datasets": ["rt"], "seeds": [0], "train": {"max_train_examples": 100},
    "methods": ["standard"], "train_temperatures": [1], "grad_norm": [False], "serve_temperatures": [1],
    "attacks": ["deepwordbug"], "piercings": ["none", "cal"], "audit": {"n_examples": 10},
}


def _plan(data=None, identities=IDENTITIES):
    return plan_sweep(parse_sweep_config(copy.deepcopy(data or BASE)), copy.deepcopy(identities))


def _keys(plan) -> dict:
    return {"train": {c.key for c in plan.of_kind("train")}, "audit": {c.key for c in plan.of_kind("audit")},
            "result": {r.key for r in plan.results}}


def test_the_same_config_gives_the_same_keys():
    assert _keys(_plan()) == _keys(_plan())
    reordered = dict(reversed(list(BASE.items())))
    assert _keys(_plan(reordered)) == _keys(_plan())
    # 1 and 1.0, or "1e6" and 1000000.0 are the same temperature.
    assert _keys(_plan(BASE | {"serve_temperatures": ["1e6"]})) == \
        _keys(_plan(BASE | {"serve_temperatures": [1000000.0]}))


@pytest.mark.parametrize("change, changes_training", [
    (dict(methods=["pgd"]), True),
    (dict(train_temperatures=[10]), True),
    (dict(grad_norm=[True]), True),
    (dict(seeds=[1]), True),
    (dict(train={"max_train_examples": 101}), True),
    (dict(train={"max_train_examples": 100, "learning_rate": 1e-4}), True),
    (dict(preset="paper"), True),
    (dict(datasets=[{"spec": "rt", "text_column": "sentence"}]), True),
    (dict(serve_temperatures=[0.01]), False),
    (dict(attacks=["pwws"]), False),
    (dict(piercings=["none", "cal", "opt"]), False),
    (dict(audit={"n_examples": 11}), False),
    (dict(audit={"n_examples": 10, "score": "margin"}), False),
    (dict(audit={"n_examples": 10, "seed": 3}), False),
])
def test_any_field_change_gives_new_keys(change, changes_training):
    before, after = _keys(_plan()), _keys(_plan(BASE | change))
    assert (before["train"] != after["train"]) is changes_training
    assert before["audit"].isdisjoint(after["audit"])
    assert before["result"].isdisjoint(after["result"])


@pytest.mark.parametrize("identities", [
    {"model": {"spec": "minilm", "weights_sha256": "w1"}},
    {"model": {"spec": "another-model", "weights_sha256": None}},
    {"datasets": {"rt": {"fingerprints": {"train": "a", "validation": "b", "test": "changed"}}}},
])
def test_new_data_or_weights_give_new_keys(identities):
    assert _keys(_plan(identities=IDENTITIES | identities))["train"].isdisjoint(_keys(_plan())["train"])


def test_what_does_not_change_the_model_keeps_its_key():
    # A block's name, the description, and hyper-parameters of methods not trained are not the model.
    same = BASE | {"description": "x", "train": {"max_train_examples": 100, "adv_steps": 3}}
    assert _keys(_plan(same)) == _keys(_plan())
    named = BASE | {"grid": [{"name": "a block"}]}
    assert _keys(_plan(named)) == _keys(_plan())


def test_sub_grids_are_a_union_without_duplicates():
    data = BASE | {"grid": [
        {"serve_temperatures": [1, 0.01]},
        {"methods": ["standard", "pgd"], "attacks": ["pwws"]},
        {"methods": ["standard"], "grad_norm": [True], "train_temperatures": [1, 200]},
    ]}
    plan = _plan(data)
    assert plan.size() == {"train_cells": 4, "audit_cells": 5, "results": 4 + 2 + 2 + 2 + 2}
    # standard at T_d = 1 is asked for by two sub-grids: one audit over the union of their attacks.
    merged = next(c for c in plan.of_kind("audit") if c.label == "rt standard seed=0 T_d=1")
    assert merged.spec["attacks"] == ["deepwordbug", "pwws"] and len(merged.results) == 4
    assert len({r.key for r in plan.results}) == len(plan.results)


def test_dg_aug_depends_on_the_baseline_it_attacks():
    plan = _plan(BASE | {"methods": ["dg-aug"], "grad_norm": [True], "train_temperatures": [200]})
    source, dg_aug = plan.of_kind("train")
    assert dg_aug.requires == (source.key,) and dg_aug.config["augment_from"] == source.key
    assert (source.spec["train"]["method"], source.spec["train"]["temperature"], source.spec["train"]["grad_norm"]) \
        == ("standard", 1.0, False)
    assert plan.cells.index(source) < plan.cells.index(dg_aug)
    # Only dg-aug is audited; its source model is trained for it.
    assert [c.requires for c in plan.of_kind("audit")] == [(dg_aug.key,)]


def test_word_importance_only_for_a_model_and_its_upconf_twin():
    data = BASE | {"word_importance": {"attacks": ["pwws"], "n_examples": 5},
                   "grid": [{"serve_temperatures": [1, 0.01, 1e6]}, {"methods": ["pgd"]}]}
    ranked = {c.label: c.spec["word_importance"] for c in _plan(data).of_kind("audit")}
    assert ranked == {"rt standard seed=0 T_d=1": {"attacks": ["pwws"], "n_examples": 5},
                      "rt standard seed=0 T_d=0.01": {"attacks": ["pwws"], "n_examples": 5},
                      "rt standard seed=0 T_d=1e+06": None, "rt pgd seed=0 T_d=1": None}


def test_result_rows_carry_their_configuration_and_seedless_groups_them():
    plan = _plan(BASE | {"seeds": [0, 1]})
    configs = [r.config for r in plan.results]
    assert {c["seed"] for c in configs} == {0, 1}
    assert all({"dataset", "method", "train_temperature", "grad_norm", "serve_temperature", "attack", "piercing",
                "train", "audit"} <= set(c) for c in configs)
    assert len({canonical_json(seedless(c)) for c in configs}) == 2  # one group per piercing, seeds pooled


def test_keys_are_short_stable_hex():
    assert config_key({"a": 1, "b": [1.5, None]}) == config_key({"b": [1.5, None], "a": 1})
    assert len(config_key({})) == 16 and int(config_key({}), 16) >= 0
    with pytest.raises(ValueError):
        canonical_json({"t": float("nan")})


def test_transfer_crafts_on_the_standard_model_of_the_same_seed():
    plan = _plan(BASE | {"methods": ["pgd"], "seeds": [0, 1], "piercings": ["none", "transfer"]})
    trained = {(c.spec["train"]["method"], c.spec["train"]["seed"]): c for c in plan.of_kind("train")}
    assert set(trained) == {("pgd", 0), ("pgd", 1), ("standard", 0), ("standard", 1)}
    for audit in plan.of_kind("audit"):  # only pgd is audited; its reference is trained for it
        seed = audit.spec["config"]["seed"]
        reference = trained[("standard", seed)]
        assert audit.requires == (trained[("pgd", seed)].key, reference.key)
        assert audit.spec["transfer_from"] == audit.config["transfer_from"] == reference.key
        assert {r.piercing for r in audit.results} == {"none", "transfer"}
    # A standard model's transfer reference is itself: no second dependency.
    own = _plan(BASE | {"piercings": ["none", "transfer"]}).of_kind("audit")[0]
    assert own.requires == (own.config["transfer_from"],)


def test_piercings_not_asked_for_leave_the_keys_as_they_were():
    plain = _plan()
    assert all("transfer_from" not in c.config for c in plain.of_kind("audit"))
    assert all("platt_kind" not in c.config["audit"] for c in plain.of_kind("audit"))
    assert _keys(_plan(BASE | {"piercings": ["none", "cal", "platt"]}))["train"] == _keys(plain)["train"]


def test_cells_a_block_trains_differently_carry_the_changed_settings_in_their_labels():
    data = BASE | {"grid": [{"train": {"epochs": 4}}, {}, {"methods": ["ddi"], "train": {"epochs": 6,
                                                                                        "ddi_normalization": "none"}}]}
    plan = _plan(data)
    assert sorted(c.label for c in plan.of_kind("train")) == [
        "rt ddi seed=0 [ddi_normalization=none, epochs=6]", "rt standard seed=0", "rt standard seed=0 [epochs=4]"]
    assert "rt standard seed=0 [epochs=4] T_d=1" in {c.label for c in plan.of_kind("audit")}
    # Labels are not keys: the cell that trains as the sweep's own settings has the key it always had.
    assert {c.key for c in plan.of_kind("train") if c.label == "rt standard seed=0"} == _keys(_plan())["train"]
