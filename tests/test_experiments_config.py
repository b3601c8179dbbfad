"""Sweep configs: the shipped ones load with the expected grids; invalid ones fail before any work,
naming the field."""

from pathlib import Path

import pytest
import yaml

from ior.cli.main import main
from ior.experiments.config import SweepConfigError, load_sweep_config, parse_sweep_config
from ior.experiments.grid import grid_size, plan_sweep
from ior.training.config import METHODS

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_repro_cpu_covers_every_method_and_the_temperature_sweep():
    config = load_sweep_config(CONFIGS / "repro-cpu.yaml")
    assert grid_size(config) == {"train_cells": 13, "audit_cells": 15, "results": 66}
    plan = plan_sweep(config)
    trained = [c.spec["train"] for c in plan.of_kind("train")]
    assert {t["method"] for t in trained} == set(METHODS)
    assert sorted(t["temperature"] for t in trained if t["method"] == "standard" and t["grad_norm"]) == \
        [1, 10, 100, 200, 2000]
    assert all(t["max_train_examples"] == 1500 and t["model"] == "minilm" if "model" in t else True for t in trained)
    assert config.model == "minilm" and [d.spec for d in config.datasets] == ["rt"]
    assert config.audit["n_examples"] >= 300
    assert {"deepwordbug", "pwws"} <= {a for c in plan.of_kind("audit") for a in c.spec["attacks"]}
    serve = sorted(c.spec["serve_temperature"] for c in plan.of_kind("audit") if "standard seed" in c.label)
    assert serve == [0.01, 1.0, 1e6]
    assert config.word_importance.enabled


def test_repro_paper_is_the_papers_setting():
    config = load_sweep_config(CONFIGS / "repro-paper.yaml")
    assert config.model == "microsoft/deberta-base" and config.preset == "paper"
    assert [d.name for d in config.datasets] == ["rt", "emotion", "agnews", "cola", "qnli", "mrpc"]
    assert all(d.spec.startswith("hf:") for d in config.datasets)
    assert config.blocks[0].seeds == (0, 1, 2)
    assert config.blocks[0].attacks == ("bae", "textfooler", "pwws", "deepwordbug")
    # 16 models per dataset and seed (standard, 5 temperatures of standard*, 5 AT methods, pgd*, 4 AT
    # methods with grad-norm at T = 200), 18 audits (standard also at T_d 0.01 and 1e6), 4 attacks x 3
    # piercings each.
    assert grid_size(config) == {"train_cells": 16 * 6 * 3, "audit_cells": 18 * 6 * 3, "results": 18 * 6 * 3 * 12}
    assert config.audit["n_examples"] is None
    pair = next(d for d in config.datasets if d.name == "qnli")
    assert (pair.text_column, pair.text_pair_column, pair.split_names["test"]) == ("question", "sentence", "validation")


def _valid(tmp_path) -> dict:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    return {"name": "t", "model": "minilm", "datasets": [str(data)], "methods": ["standard", "pgd"],
            "train_temperatures": [1, 100], "attacks": ["dg"], "serve_temperatures": [1, "1e6"]}


def test_a_valid_config_parses_numbers_written_as_yaml_strings(tmp_path):
    config = parse_sweep_config(_valid(tmp_path))
    assert config.blocks[0].serve_temperatures == (1.0, 1e6)
    assert config.blocks[0].attacks == ("deepwordbug",)
    assert grid_size(config) == {"train_cells": 4, "audit_cells": 8, "results": 24}


def test_a_dataset_encoding_is_checked_and_keys_only_the_datasets_that_set_it(tmp_path):
    data = str(tmp_path / "data")
    plain = parse_sweep_config(_valid(tmp_path)).datasets[0]
    latin = parse_sweep_config(_valid(tmp_path) | {"datasets": [{"spec": data, "encoding": "Latin-1"}]}).datasets[0]
    assert plain.encoding is None and "encoding" not in plain.to_dict()  # stores written before keep their keys
    assert latin.encoding == "iso8859-1" and latin.to_dict()["encoding"] == "iso8859-1"
    with pytest.raises(SweepConfigError, match="unknown text encoding 'klingon'") as info:
        parse_sweep_config(_valid(tmp_path) | {"datasets": [{"spec": data, "encoding": "klingon"}]})
    assert info.value.field == "datasets[0].encoding"


@pytest.mark.parametrize("change, field, message", [
    (dict(methods=["standard", "pgdd"]), "methods[1]", "must be one of"),
    (dict(train_temperatures=[1, -2]), "train_temperatures[1]", "finite and > 0"),
    (dict(serve_temperatures=[0]), "serve_temperatures[0]", "finite and > 0"),
    (dict(datasets=None), "datasets", "is required"),
    (dict(datasets=["/nonexistent/ior-data"]), "datasets[0].spec", "dataset not found"),
    (dict(datasets=[{"name": "x"}]), "datasets[0].spec", "is required"),
    (dict(colour="blue"), "colour", "unknown field"),
    (dict(grid=[{"methods": ["pgd"], "serve_temperature": [1]}]), "grid[0].serve_temperature", "unknown field"),
    (dict(grid=[{}, {"train_temperatures": ["hot"]}]), "grid[1].train_temperatures[0]", "must be a number"),
    (dict(train={"lr": 1e-3}), "train.lr", "unknown field"),
    (dict(train={"temperature": 2}), "train.temperature", "set by the sweep grid"),
    (dict(train={"learning_rate": 0}), "train.learning_rate", "learning_rate must be finite and > 0"),
    (dict(grid=[{}, {"train": {"epochs": 0}}]), "grid[1].train.epochs", "epochs must be >= 1"),
    (dict(train={"grad_clip": 1.0}, grad_norm=[True]), "grad_norm", "exclusive"),
    (dict(audit={"n_opt": 0}), "audit", "n_opt must be >= 1"),
    (dict(audit={"attacks": ["dg"]}), "audit.attacks", "set by the sweep grid"),
    (dict(audit={"score": "logits"}), "audit.score", "must be one of"),
    (dict(attacks=["fgsm"]), "attacks[0]", "unknown attack"),
    (dict(piercings=["none", "isotonic"]), "piercings[1]", "must be one of"),
    (dict(seeds=[-1]), "seeds[0]", ">= 0"),
    (dict(grad_norm=["yes"]), "grad_norm[0]", "true or false"),
    (dict(model=None), "model", "non-empty string"),
    (dict(model="./no-such-model"), "model", "does not exist"),
    (dict(preset="gpu"), "preset", "must be one of"),
    (dict(word_importance={"attacks": ["dg"], "n_examples": -1}), "word_importance.n_examples", ">= 0"),
    (dict(methods=["ascc"], train={"ascc_synonyms": "/no/vectors.txt"}), "train.ascc_synonyms", "existing"),
])
def test_invalid_configs_are_rejected_naming_the_field(tmp_path, change, field, message):
    data = _valid(tmp_path) | change
    data = {k: v for k, v in data.items() if v is not None or k != "datasets"}
    with pytest.raises(SweepConfigError, match=message) as info:
        parse_sweep_config(data)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


def test_missing_model_field_is_named(tmp_path):
    data = _valid(tmp_path)
    del data["model"]
    with pytest.raises(SweepConfigError, match="model: is required"):
        parse_sweep_config(data)


def test_cli_rejects_an_invalid_config_in_one_line_before_any_work(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_valid(tmp_path) | {"methods": ["standard", "pgdd"]}))
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ior: error: bad.yaml: methods[1]: must be one of") and "\n" not in err
    assert not out.exists()


def test_cli_rejects_an_unloadable_dataset_before_any_work(tmp_path, capsys):
    (tmp_path / "data" / "train.jsonl").parent.mkdir()
    (tmp_path / "data" / "train.jsonl").write_text('{"text": "a", "label": "x"}\n')  # no validation, no test
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_valid(tmp_path)))
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ior: error: datasets[0]:") and "\n" not in err
    assert not out.exists()


def test_cli_rejects_a_model_folder_that_is_not_a_model(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    for split in ("train", "validation", "test"):
        (tmp_path / "data" / f"{split}.jsonl").write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n')
    (tmp_path / "empty-model").mkdir()
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_valid(tmp_path) | {"model": str(tmp_path / "empty-model")}))
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith("ior: error: model: model folder")
    assert not (tmp_path / "out").exists()


def test_cli_rejects_a_missing_config_file(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "none.yaml"), "--out", str(tmp_path / "out")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--time-limit", "2h30"], "ior: error: --time-limit must be a duration such as 2h30m"),
    (["--time-limit", "0"], "ior: error: --time-limit must be positive, got '0'"),
    (["--estimate", "estimate.json"], "ior: error: --estimate applies with --time-limit or --dry-run only"),
    (["--time-limit", "1h", "--executor", "ray"], "ior: error: --time-limit needs --executor local"),
])
def test_cli_rejects_a_bad_time_limit_in_one_line_before_any_work(tmp_path, capsys, extra, message):
    path = tmp_path / "good.yaml"
    path.write_text(yaml.safe_dump(_valid(tmp_path)))
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out)] + extra) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) and "\n" not in err
    assert not out.exists()


def test_an_estimate_that_prices_none_of_the_cells_is_warned_about(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    for split in ("train", "validation", "test"):
        (tmp_path / "data" / f"{split}.jsonl").write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n')
    path = tmp_path / "good.yaml"
    path.write_text(yaml.safe_dump(_valid(tmp_path)))
    estimate = tmp_path / "estimate.json"
    estimate.write_text('{"cells": [{"key": "0123456789abcdef", "expected_seconds": 60}]}')
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--dry-run", "--estimate", str(estimate)]) == 0
    captured = capsys.readouterr()
    assert "prices none of this sweep's cells" in captured.err and "[cost unknown]" in captured.out
