"""Image cells in `ior sweep` and `ior report`: the same store, rows and report as text."""

import json

import pytest

from ior.cli.main import main
from ior.experiments.config import SweepConfigError, parse_sweep_config
from ior.experiments.store import ResultStore
from test_image_audit import run, write_npz_dataset

CONFIG = """\
name: tiny-images
datasets: [{data}]
train: {{arch: cnn, epochs: 2, batch_size: 32}}
methods: [standard]
train_temperatures: [1, 100]
serve_temperatures: [1]
attacks: [pgd, apgd-dlr]
piercings: [none, cal, opt]
audit: {{n_examples: 24, n_opt: 16, opt_maxiter: 2, n_bootstrap: 200, epsilon: 0.3, apgd_steps: 5, pgd_steps: 5}}
grid:
  - {{}}
  - {{methods: [pgd], train_temperatures: [1], serve_temperatures: [1, 0.0001], train: {{adv_steps: 2}}}}
"""


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    root = tmp_path_factory.mktemp("image-sweep")
    data = write_npz_dataset(root / "data", n=(160, 40, 40))
    config = root / "sweep.yaml"
    config.write_text(CONFIG.format(data=data))
    out = root / "out"
    code, stdout, err = run(["sweep", str(config), "--out", str(out), "--workers", "0", "--no-progress"])
    assert code == 0, err
    return config, out


def test_image_sweep_stores_the_same_rows_as_text(swept):
    _, out = swept
    store = ResultStore(out / "runs.sqlite")
    rows = store.results()
    assert {r["attack"] for r in rows} == {"pgd", "apgd-dlr"}
    assert {r["method"] for r in rows} == {"standard", "pgd"}
    assert {r["piercing"] for r in rows} == {"none", "cal", "opt"}
    assert {r["train_temperature"] for r in rows} == {1.0, 100.0}
    # three models (standard T=1, T=100, pgd) x their serving temperatures x 2 attacks x 3 piercings
    assert len(rows) == (1 + 1 + 2) * 2 * 3
    cold = [r for r in rows if r["serve_temperature"] == 0.0001 and r["attack"] == "pgd"]
    assert {r["piercing"] for r in cold} == {"none", "cal", "opt"}
    assert all(r["config"]["audit"]["attack"]["epsilon"] == 0.3 for r in rows)


def test_a_second_run_resumes_with_nothing_to_do(swept):
    config, out = swept
    code, stdout, err = run(["sweep", str(config), "--out", str(out), "--dry-run"])
    assert code == 0, err
    assert "7 of 7 cells already done" in stdout + err


def test_report_renders_image_rows(swept, tmp_path):
    _, out = swept
    code, stdout, err = run(["report", str(out)])
    assert code == 0, err
    text = (out / "report.md").read_text()
    assert "pgd" in text and "apgd-dlr" in text
    report = json.loads((out / "report.json").read_text())
    assert report


@pytest.mark.parametrize("change, field", [
    ({"methods": ["freelb"]}, "methods[0]"),
    ({"attacks": ["deepwordbug"]}, "attacks[0]"),
    ({"model": "minilm"}, "model"),
    ({"audit": {"epsilon": 0}}, "audit"),
    ({"train": {"arch": "vgg"}}, "train"),
])
def test_image_config_errors_name_their_field(tmp_path, change, field):
    data = write_npz_dataset(tmp_path / "d", n=(16, 8, 8))
    raw = {"name": "x", "datasets": [str(data)], **change}
    with pytest.raises(SweepConfigError, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_sweep_config(raw)


@pytest.mark.parametrize("name", ["repro-images-cpu", "repro-images-paper"])
def test_the_committed_image_configs_are_valid(name, tmp_path):
    """The shipped configs parse and plan; the paper one with a fixture in place of the CIFAR folders."""
    import yaml

    from ior.experiments.grid import plan_sweep

    raw = yaml.safe_load(open(f"configs/{name}.yaml"))
    raw["datasets"] = [{"spec": str(write_npz_dataset(tmp_path / f"d{i}", n=(16, 8, 8))), "name": f"d{i}"}
                       for i in range(len(raw["datasets"]))]
    config = parse_sweep_config(raw)
    assert config.modality == "image"
    plan = plan_sweep(config)
    assert plan.size()["train_cells"] == len(raw["datasets"]) * {"repro-images-cpu": 48, "repro-images-paper": 96}[name]


def test_an_audit_cell_stopped_part_way_resumes_from_its_finished_runs(tmp_path, monkeypatch):
    from ior.attacks.image import ImageAttackSuite

    data = write_npz_dataset(tmp_path / "data", n=(160, 40, 40))
    config = tmp_path / "sweep.yaml"
    config.write_text(CONFIG.format(data=data).replace("train_temperatures: [1, 100]", "train_temperatures: [1]")
                      .split("grid:")[0])
    real_run, calls = ImageAttackSuite.run, []
    monkeypatch.setattr(ImageAttackSuite, "run", lambda self, *a, **k: calls.append(a[0]) or real_run(self, *a, **k))
    code, _, err = run(["sweep", str(config), "--out", str(tmp_path / "whole"), "--workers", "0", "--no-progress"])
    assert code == 0, err
    n_total = len(calls)  # opt's Q(T) evaluations, then 2 attacks x (served, cal, opt)
    calls.clear()

    def dies_on_a_late_run(self, *args, **kwargs):
        calls.append(args[0])
        if len(calls) == 5:  # after opt's Q(T) evaluations and the first attack runs
            raise RuntimeError("killed")
        return real_run(self, *args, **kwargs)

    monkeypatch.setattr(ImageAttackSuite, "run", dies_on_a_late_run)
    out = tmp_path / "stopped"
    code, _, err = run(["sweep", str(config), "--out", str(out), "--workers", "0", "--no-progress"])
    assert code == 2 and "1 cell(s) failed" in err
    (partial,) = (out / "partial").iterdir()
    assert len(list(partial.glob("*.npz"))) == 4
    n_runs = len(calls) - 1
    calls.clear()
    monkeypatch.setattr(ImageAttackSuite, "run", lambda self, *a, **k: calls.append(a[0]) or real_run(self, *a, **k))
    code, _, err = run(["sweep", str(config), "--out", str(out), "--workers", "0", "--no-progress"])
    assert code == 0, err
    assert not partial.exists()
    rows = {r["key"]: r for r in ResultStore(out / "runs.sqlite").results()}
    whole = {r["key"]: r for r in ResultStore(tmp_path / "whole" / "runs.sqlite").results()}
    assert rows.keys() == whole.keys() and len(rows) == 6
    for key, row in rows.items():
        assert row["adversarial_accuracy"] == whole[key]["adversarial_accuracy"], row["attack"] + row["piercing"]
        assert row["attack_temperature"] == whole[key]["attack_temperature"]
    (audit,) = [c for c in ResultStore(out / "runs.sqlite").cells() if c["kind"] == "audit"]
    assert f"({n_runs} attack run(s) loaded from a stopped run)" in err and len(calls) == n_total - n_runs
    # A sweep killed between committing a cell and removing its runs: the next start removes them.
    (out / "partial" / audit["key"]).mkdir(parents=True)
    code, _, err = run(["sweep", str(config), "--out", str(out), "--workers", "0", "--no-progress"])
    assert code == 0, err
    assert not (out / "partial" / audit["key"]).exists()
