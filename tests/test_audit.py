"""The audit on a synthetic model and attack: no text, no network, exact expectations."""

import json
from dataclasses import dataclass

import numpy as np
import pytest

from ior.audit.config import AuditConfig
from ior.audit.report import build_report, render_markdown, write_report
from ior.audit.run import Auditor
from ior.audit.statistics import GENUINE, ILLUSION
from ior.models.probabilities import softmax_float32

N = 120


class TableModel:
    """Inputs are integers; input i + N is the adversarial twin of input i (margin flipped)."""

    num_labels = 2

    def __init__(self, probabilities=False):
        rng = np.random.default_rng(0)
        self.labels = rng.integers(0, 2, N)
        margin = rng.uniform(1.0, 4.0, N)
        wrong = rng.random(N) < 0.1  # ~90% clean accuracy
        sign = np.where(self.labels == 1, 1.0, -1.0) * np.where(wrong, -1.0, 1.0)
        clean = np.stack([-sign * margin / 2, sign * margin / 2], axis=1)
        twins = clean[:, ::-1] * 0.5
        self.table = np.concatenate([clean, twins]).astype(np.float32)
        self.probabilities = probabilities
        self.uncached_calls = 0

    def logits(self, inputs):
        out = self.table[np.asarray(inputs, dtype=int)]
        return softmax_float32(out) if self.probabilities else out

    def logits_uncached(self, inputs):
        self.uncached_calls += 1
        return self.logits(inputs)


@dataclass(frozen=True)
class Result:
    adversarial: int
    outcome: str


class SignalAttack:
    """Succeeds (moves to the twin) only where the float32 probabilities carry a signal."""

    def canonical(self, name):
        if name not in ("flip", "flip2"):
            raise ValueError(f"unknown attack {name!r}")
        return name

    def run(self, name, model, inputs, labels, *, desc):
        logits = model.logits(inputs)
        probs = softmax_float32(logits)
        results = []
        for i, y, p, z in zip(inputs, labels, probs, logits):
            if z.argmax() != y:
                results.append(Result(i, "SKIPPED"))
            elif p[y] < 1.0 and abs(p[y] - 0.5) > 1e-4:
                results.append(Result(i + N, "SUCCEEDED"))
            else:
                results.append(Result(i, "FAILED"))
        return results

    def adversarial_inputs(self, results):
        return [r.adversarial for r in results]

    def queries(self, results):
        return [1] * len(results)

    def hyperparameters(self, name):
        return {"name": name}


def _audit(temperature, **kw):
    model = TableModel(**{k: kw.pop(k) for k in list(kw) if k == "probabilities"})
    ids = np.arange(N)
    config = AuditConfig(serve_temperature=temperature, attacks=("flip",), opt_attack="flip", n_opt=60,
                         n_bootstrap=500, **kw)
    auditor = Auditor(model, SignalAttack(), config, progress=False)
    return auditor.run(ids[:60], model.labels[:60], ids[60:], model.labels[60:], name=f"T{temperature}"), model


def test_baseline_is_genuine():
    audit, _ = _audit(1.0)
    a = audit.attacks["flip"]
    assert a["served"] == 0.0 and a["cal"] == 0.0
    assert a["verdict"] == GENUINE
    assert audit.flags == []


def test_over_confident_serving_is_an_illusion_that_cal_pierces():
    audit, model = _audit(0.01)
    a = audit.attacks["flip"]
    assert a["served"] == pytest.approx(audit.clean["accuracy"])  # every attack failed
    assert a["cal"] == 0.0
    assert a["gap"] == pytest.approx(100 * audit.clean["accuracy"])
    assert a["verdict"] == ILLUSION
    assert 10 < a["cal_temperature"] < 1000
    codes = {f["code"] for f in audit.flags}
    assert {"saturated-confidence", "calibration-temperature-extreme"} <= codes
    assert model.uncached_calls >= 3  # every run re-scored with a fresh forward pass


def test_under_confident_serving_is_pierced_by_opt_alone():
    audit, _ = _audit(1e6, piercings=("opt",))
    a = audit.attacks["flip"]
    assert a["cal"] is None
    assert a["served"] > 0.5
    assert a["opt"] == 0.0
    assert a["opt_temperature"] < 1e-3
    assert a["verdict"] == ILLUSION


def test_probabilities_are_refused_unless_allowed():
    with pytest.raises(ValueError, match="already sum to 1"):
        _audit(1.0, probabilities=True)
    audit, _ = _audit(1.0, probabilities=True, allow_probabilities=True, piercings=("cal",))
    assert "outputs-are-probabilities" in {f["code"] for f in audit.flags}


def test_report_contract_and_markdown(tmp_path):
    audits = [_audit(1.0)[0], _audit(0.01)[0]]
    report = build_report(audits, provenance={"seed": 0}, elapsed_seconds=1.5)
    json_path, md_path = write_report(report, tmp_path)
    import json

    data = json.loads(json_path.read_text())
    model = data["models"][1]
    for key in ("name", "serve_temperature", "clean_accuracy", "mean_confidence", "n_examples", "attacks"):
        assert key in model
    attack = model["attacks"]["flip"]
    for key in ("served", "cal", "opt", "gap", "gap_ci", "verdict", "cal_temperature", "opt_temperature"):
        assert key in attack
    assert 0.0 <= attack["served"] <= 1.0 and len(attack["gap_ci"]) == 2
    assert data["elapsed_seconds"] == 1.5 and "versions" in data["provenance"]
    text = md_path.read_text()
    assert "illusion of robustness" in text and "| T0.01 | 0.01 | flip |" in text
    assert render_markdown(report) == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["examples.jsonl", "report.html", "report.json", "report.md"]


def test_bad_config_is_rejected_before_any_work():
    with pytest.raises(ValueError, match="serve_temperature"):
        AuditConfig(serve_temperature=0.0)
    with pytest.raises(ValueError, match="piercings"):
        AuditConfig(piercings=("isotonic",))


class TwoRuntimeModel(TableModel):
    """Searches with ``logits``; its reference runtime disagrees on the twins of every 10th input."""

    runtime = "fast"

    def logits_reference(self, inputs):
        inputs = np.asarray(inputs, dtype=int)
        return self.table[np.where((inputs >= N) & (inputs % 10 == 0), inputs - N, inputs)]


def test_a_fast_runtime_searches_and_the_reference_counts():
    model = TwoRuntimeModel()
    ids = np.arange(N)
    config = AuditConfig(attacks=("flip",), piercings=("cal",), n_bootstrap=200)
    audit = Auditor(model, SignalAttack(), config, progress=False).run(ids[:60], model.labels[:60], ids[60:],
                                                                       model.labels[60:])
    clean_correct = model.table[:60].argmax(axis=1) == model.labels[:60]
    held = clean_correct & (ids[:60] % 10 == 0)  # the reference keeps these right: they count as robust
    assert audit.attacks["flip"]["served"] == pytest.approx(held.mean())
    assert audit.attacks["flip"]["rescoring_disagreements"]["served"] == held.sum() > 0
    flag = [f for f in audit.flags if f["code"] == "runtime-disagreement"]
    assert len(flag) == 1 and "fast runtime" in flag[0]["message"]
    # A model without a second runtime is never flagged for it.
    plain = _audit(1.0)[0]
    assert all(f["code"] != "runtime-disagreement" for f in plain.flags)


def test_platt_pierces_saturated_serving_and_is_reported(tmp_path):
    audit, _ = _audit(0.01, piercings=("cal", "platt"))
    a = audit.attacks["flip"]
    assert a["served"] == pytest.approx(audit.clean["accuracy"])  # saturated: every attack failed
    assert a["platt"] == 0.0  # the fitted affine map gives the attack its signal back
    platt = audit.calibration["platt"]
    assert platt["kind"] == "matrix" and platt["validation_nll_after_platt"] < platt["validation_nll_at_served"]
    assert platt["clean_accuracy"] == pytest.approx(audit.clean["accuracy"])  # this map keeps the argmax
    assert a["verdict"] == ILLUSION and audit.worst_case["piercings"] == ["served", "cal", "platt"]
    report = build_report([audit], provenance={}, elapsed_seconds=0.0)
    text = render_markdown(report)
    assert "| − | cal | opt | platt | gap [95% CI] |" in text and "min(cal, opt, platt)" in text
    write_report(report, tmp_path)
    assert "<th class=\"nowrap\">platt %</th>" in (tmp_path / "report.html").read_text()


def test_transfer_counts_examples_crafted_on_the_reference_on_the_served_model():
    reference = TableModel()  # the same network served at T = 1: its probabilities carry the signal
    model = TableModel()
    ids = np.arange(N)
    config = AuditConfig(serve_temperature=0.01, attacks=("flip",), piercings=("transfer",), n_bootstrap=200)
    audit = Auditor(model, SignalAttack(), config, progress=False, reference=reference).run(
        ids[:60], model.labels[:60], ids[60:], model.labels[60:])
    a = audit.attacks["flip"]
    assert a["served"] == pytest.approx(audit.clean["accuracy"]) and a["transfer"] == 0.0
    assert a["verdict"] == ILLUSION and a["cal"] is None
    assert a["rescoring_disagreements"]["transfer"] == 0  # claims about the reference are not checked here
    with pytest.raises(ValueError, match="needs a reference model"):
        Auditor(model, SignalAttack(), config, progress=False)


def test_a_transfer_that_does_not_carry_over_leaves_the_served_model_robust():
    class Stubborn(TableModel):
        """Its twins keep the clean logits: nothing crafted elsewhere moves it."""

        def logits(self, inputs):
            return self.table[np.asarray(inputs, dtype=int) % N]

    model, ids = Stubborn(), np.arange(N)
    config = AuditConfig(attacks=("flip",), piercings=("transfer",), n_bootstrap=200)
    audit = Auditor(model, SignalAttack(), config, progress=False, reference=TableModel()).run(
        ids[:60], model.labels[:60], ids[60:], model.labels[60:])
    assert audit.attacks["flip"]["transfer"] == pytest.approx(audit.clean["accuracy"])
    assert audit.attacks["flip"]["verdict"] == GENUINE


class Killed(Exception):
    """Stands for a process killed part-way through an audit."""


class CountingAttack(SignalAttack):
    """SignalAttack that counts its runs and can be told to die on the n-th."""

    def __init__(self, die_on=None):
        self.calls, self.die_on = 0, die_on

    def run(self, name, model, inputs, labels, *, desc):
        self.calls += 1
        if self.calls == self.die_on:
            raise Killed(desc)
        return super().run(name, model, inputs, labels, desc=desc)


def _checkpointed(suite, folder, fingerprint=None, temperature=0.01):
    from ior.audit.checkpoint import AuditCheckpoint

    model = TableModel()
    ids = np.arange(N)
    config = AuditConfig(serve_temperature=temperature, attacks=("flip", "flip2"), opt_attack="flip", n_opt=60,
                         n_bootstrap=500, piercings=("cal", "opt"))
    checkpoint = None if folder is None else AuditCheckpoint(folder, fingerprint or {"model": "table"})
    audit = Auditor(model, suite, config, progress=False, checkpoint=checkpoint).run(
        ids[:60], model.labels[:60], ids[60:], model.labels[60:], name="m")
    return audit, checkpoint


def test_a_stopped_audit_resumes_from_its_finished_runs_and_matches_an_uninterrupted_one(tmp_path):
    whole = CountingAttack()
    expected, _ = _checkpointed(whole, None)
    n_runs = whole.calls  # opt's Q(T) evaluations, then served/cal/opt for each of two attacks
    assert n_runs > 6
    with pytest.raises(Killed):
        _checkpointed(CountingAttack(die_on=n_runs - 1), tmp_path / "ckpt")
    resumed_suite = CountingAttack()
    resumed, checkpoint = _checkpointed(resumed_suite, tmp_path / "ckpt")
    assert checkpoint.loaded == n_runs - 2 and resumed_suite.calls == 2  # only the unfinished runs attack again
    assert resumed.attacks == expected.attacks and resumed.opt == expected.opt
    assert resumed.worst_case == expected.worst_case
    assert resumed.examples == expected.examples


def test_a_checkpoint_of_another_audit_or_a_damaged_run_is_not_used(tmp_path):
    folder = tmp_path / "ckpt"
    first = CountingAttack()
    expected, _ = _checkpointed(first, folder)
    again = CountingAttack()
    _checkpointed(again, folder, fingerprint={"model": "retrained"})  # another model: everything runs again
    assert again.calls == first.calls
    damaged = sorted(folder.glob("*.npz"))[0]
    damaged.write_bytes(damaged.read_bytes()[:-7])
    third = CountingAttack()
    resumed, checkpoint = _checkpointed(third, folder, fingerprint={"model": "retrained"})
    assert third.calls == 1 and checkpoint.loaded == first.calls - 1  # the damaged run is attacked again
    assert resumed.attacks == expected.attacks
    other = CountingAttack()
    _checkpointed(other, folder, fingerprint={"model": "retrained"}, temperature=1e6)  # other temperatures
    assert other.calls == first.calls


def test_an_audit_refused_before_any_attack_leaves_no_checkpoint(tmp_path):
    from ior.audit.checkpoint import AuditCheckpoint

    model = TableModel(probabilities=True)
    ids = np.arange(N)
    checkpoint = AuditCheckpoint(tmp_path / "ckpt", {"model": "table"})
    with pytest.raises(ValueError, match="already sum to 1"):
        Auditor(model, SignalAttack(), AuditConfig(serve_temperature=1.0, attacks=("flip",)), progress=False,
                checkpoint=checkpoint).run(ids[:60], model.labels[:60], ids[60:], model.labels[60:])
    assert not (tmp_path / "ckpt").exists()


class ShardedCountingAttack(CountingAttack):
    """Stands for a sharded suite: every run reports 7 CPU seconds spent in its (absent) workers."""

    worker_cpu_seconds = 0.0

    def run(self, name, model, inputs, labels, *, desc):
        self.worker_cpu_seconds += 7.0
        return super().run(name, model, inputs, labels, desc=desc)


def test_a_checkpointed_run_records_its_shards_cpu_seconds_and_a_resumed_audit_counts_them(tmp_path):
    """Wall time under-counts a run whose examples N worker processes attacked side by side; the run's
    core-seconds add the workers' CPU time to the driver's, and a resumed audit's cost counts them."""
    from ior.audit.checkpoint import AuditCheckpoint

    suite = ShardedCountingAttack()
    _checkpointed(suite, tmp_path / "ckpt")
    metas = [json.loads(p.read_text()) for p in (tmp_path / "ckpt").glob("*.json") if p.name != "checkpoint.json"]
    assert len(metas) == suite.calls
    assert all(m["core_seconds"] >= 7.0 > m["seconds"] for m in metas)
    _, resumed = _checkpointed(CountingAttack(), tmp_path / "ckpt")
    assert resumed.loaded == suite.calls
    assert resumed.loaded_core_seconds == pytest.approx(sum(m["core_seconds"] for m in metas))
    assert resumed.loaded_seconds == pytest.approx(sum(m["seconds"] for m in metas))
    # A run saved before core-seconds were recorded counts its wall time.
    key = metas[0]["key"]
    AuditCheckpoint(tmp_path / "old", {"model": "table"}).save(key, resumed.load(key), seconds=3.0)
    path = tmp_path / "old" / f"{key}.json"
    path.write_text(json.dumps({k: v for k, v in json.loads(path.read_text()).items() if k != "core_seconds"}))
    again = AuditCheckpoint(tmp_path / "old", {"model": "table"})
    again.load(key)
    assert again.loaded_seconds == again.loaded_core_seconds == 3.0
