"""``ior audit``: is a served model's measured robustness genuine, or an illusion of miscalibration?

For one model served at T_d the audit measures clean accuracy and calibration, attacks the served
model, then attacks it again after each piercing (``cal``: NLL temperature; ``opt``: the temperature
that minimises adversarial accuracy) and compares. Every adversarial example is re-scored on the
served model with a fresh forward pass before it counts. The audit knows nothing about text: an
*attack suite* (see :class:`AttackSuite`) runs attacks and hands back what to re-score, so text
(:mod:`ior.attacks.suite`) and images (:mod:`ior.attacks.image`) share this module.

Beside today's gap the audit applies AutoAttack's rule: an example counts as robust only if it
survives every run (served and each piercing), its per-example worst case. And where the suite can
differentiate the served model, it measures the gradient the attacks see
(:mod:`ior.audit.gradients`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ior.audit.config import PIERCINGS, AuditConfig
from ior.audit.flags import compute_flags, looks_like_probabilities
from ior.audit.gradients import gradient_diagnostic, gradient_flags
from ior.audit.statistics import ior_gap
from ior.calibration.adversarial_temperature import AdversarialTemperatureSearch
from ior.calibration.metrics import (confidence_variance, expected_calibration_error,
                                     maximum_calibration_error, reliability_bins)
from ior.calibration.platt import MatrixScaling
from ior.calibration.temperature_scaling import TemperatureScaling
from ior.models.probabilities import predictions, softmax_float32
from ior.models.temperature import AffineMap, AffineScaled, TemperatureScaled, apply_temperatures, serve, temperature_chain

logger = logging.getLogger(__name__)


class AttackSuite(Protocol):
    """What the audit needs from a family of attacks (text, images, ...)."""

    def canonical(self, name: str) -> str: ...

    def run(self, name: str, model, inputs, labels, *, desc: str) -> list: ...

    def adversarial_inputs(self, results) -> list: ...

    def queries(self, results) -> list[int]: ...

    def hyperparameters(self, name: str) -> dict: ...

    #: The attack that measures Q(T) for ``opt`` when the config names none.
    default_opt_attack: str


@dataclass
class Robustness:
    """Per-example robustness of one attack run, re-scored on the served model."""

    robust: np.ndarray
    adversarial_logits: np.ndarray
    claimed_successes: int
    disagreements: int
    mean_queries: float
    records: list = field(default_factory=list)
    recheck_failures: int = 0
    unclaimed_successes: int = 0

    @property
    def accuracy(self) -> float:
        return float(self.robust.mean())


@dataclass
class ModelAudit:
    name: str
    serve_temperature: float
    clean: dict
    calibration: dict
    flags: list
    attacks: dict = field(default_factory=dict)
    opt: dict | None = None
    gradients: dict | None = None
    worst_case: dict | None = None
    examples: list = field(default_factory=list)
    elapsed_seconds: float = 0.0


#: Inputs re-scored together when the attack suite does not say (see ``TextAttackSuite.rescore_group``).
RESCORE_GROUP = 8


def reference_forward(base):
    """The forward pass every counted outcome is decided by, when ``base`` searches with a faster
    runtime than its reference (``--runtime onnx``); None when it has only one."""
    return getattr(base, "logits_reference", None)


def fresh_raw_logits(base, inputs, group: int = RESCORE_GROUP) -> np.ndarray:
    """Raw logits of ``base`` from forward passes that bypass any cache, on the reference runtime
    when the model searches with a faster one (``--runtime onnx``), in groups of ``group``
    consecutive inputs: a group's logits depend on nothing outside it, so a shard that starts on a
    group boundary re-scores its inputs to the bit."""
    forward = reference_forward(base) or getattr(base, "logits_uncached", base.logits)
    parts = [np.asarray(forward(inputs[lo:lo + group]), dtype=np.float32) for lo in range(0, len(inputs), group)]
    return np.concatenate(parts) if parts else np.asarray(forward(inputs[:0]), dtype=np.float32)


def fresh_logits(model, inputs, group: int = RESCORE_GROUP) -> np.ndarray:
    """Logits from a forward pass that bypasses any cache (:func:`fresh_raw_logits`), through
    temperature wrappers of either kind, divided exactly as the served model divides them."""
    base, temperatures = temperature_chain(model)
    return apply_temperatures(fresh_raw_logits(base, inputs, group), temperatures)


def counted_logits(model, inputs) -> np.ndarray:
    """The logits an outcome the audit counts is decided by: the reference runtime's when the model
    has one, else the model's own (cached) logits."""
    base, temperatures = temperature_chain(model)
    reference = reference_forward(base)
    if reference is not None:  # batched as a cold cache batches: the torch runtime's numbers
        return apply_temperatures(np.asarray(reference(inputs), dtype=np.float32), temperatures)
    return np.asarray(model.logits(inputs), dtype=np.float32)


class Auditor:
    """Runs the audit of one model at one serving temperature.

    Parameters
    ----------
    model : object
        Base classifier: ``num_labels`` and ``logits(inputs) -> float32 [N, C]``.
    suite : AttackSuite
    config : AuditConfig
    progress : bool
    reference : object, optional
        The model ``transfer`` crafts adversarial examples on (the paper's standard baseline at T = 1):
        anything the suite can attack. Required when ``config.piercings`` holds "transfer".
    checkpoint : AuditCheckpoint, optional
        Where each finished attack run is stored and looked up (:mod:`ior.audit.checkpoint`): an audit
        run again with the same checkpoint attacks only what the first one did not finish.
    """

    def __init__(self, model, suite: AttackSuite, config: AuditConfig, *, progress=True, reference=None,
                 checkpoint=None):
        if "transfer" in config.piercings and reference is None:
            raise ValueError("the transfer piercing needs a reference model to craft examples on (--transfer-from)")
        self.model = model
        self.suite = suite
        self.config = config
        self.progress = progress
        self.reference = reference
        self.checkpoint = checkpoint
        self.served = serve(model, config.serve_temperature)

    def run(self, test_inputs, test_labels, val_inputs, val_labels, *, name="model") -> ModelAudit:
        started = time.time()
        cfg = self.config
        self._calibration = None  # the validation logits cal and platt fit on, computed once per run
        test_labels = np.asarray(test_labels)
        val_labels = np.asarray(val_labels)
        if len(test_inputs) == 0:
            raise ValueError("the test set is empty: nothing to audit")
        clean_logits = counted_logits(self.served, test_inputs)
        is_probs = looks_like_probabilities(clean_logits)
        if is_probs and not cfg.allow_probabilities:
            raise ValueError("model outputs already sum to 1 (probabilities where logits are required); "
                             "pass allow_probabilities / --allow-probabilities to audit them anyway")
        clean_correct = predictions(clean_logits) == test_labels
        clean, calibration = self._clean_metrics(clean_logits, test_labels)

        cal_model = opt_model = None
        cal_fit = None
        if "cal" in cfg.piercings:
            cal_fit = self._fit_cal(val_inputs, val_labels)
            calibration["cal_temperature"] = cal_fit.temperature_
            calibration["cal_converged"] = cal_fit.converged_
            calibration["validation_nll_at_served"] = cal_fit.nll_at_one_
            calibration["validation_nll_after_cal"] = cal_fit.nll_
            cal_model = TemperatureScaled(self.served, cal_fit.temperature_)
        flags = compute_flags(clean_logits, zeta=calibration["confidence_variance"],
                              cal_temperature=cal_fit.temperature_ if cal_fit else None,
                              cal_converged=getattr(cal_fit, "converged_", True),
                              cal_separable=getattr(cal_fit, "separable_", False),
                              n_validation=getattr(cal_fit, "n_samples_", None),
                              zeta_threshold=cfg.zeta_threshold, cal_far_factor=cfg.cal_far_factor,
                              probabilities=is_probs)
        opt_summary = None
        opt_temperature = None
        if "opt" in cfg.piercings:
            search = self._fit_opt(val_inputs, val_labels)
            opt_temperature = search.temperature_
            opt_model = TemperatureScaled(self.served, search.temperature_)
            opt_summary = {
                "temperature": search.temperature_, "attack": self.opt_attack,
                "validation_adversarial_accuracy": search.adversarial_accuracy_, "method": search.method_,
                "bracket_log10": list(search.bracket_), "stopped": search.stopped_,
                "evaluations": [{"temperature": e.temperature, "adversarial_accuracy": e.adversarial_accuracy}
                                for e in search.evaluations_],
            }

        platt_model = platt_map = None
        if "platt" in cfg.piercings:
            platt_fit = self._fit_platt(val_inputs, val_labels)
            platt_map = AffineMap(platt_fit.weight_, platt_fit.bias_)
            platt_model = AffineScaled(self.served, platt_map)
            calibration["platt"] = {
                "kind": cfg.platt_kind, "validation_nll_at_served": platt_fit.nll_at_identity_,
                "validation_nll_after_platt": platt_fit.nll_, "converged": platt_fit.converged_,
                # An affine map can reorder the classes: the accuracy of the model the attack searches.
                "clean_accuracy": float((predictions(platt_map(clean_logits)) == test_labels).mean()),
            }

        gradients = None
        if hasattr(self.suite, "input_gradient_norms"):
            steps = {"cal": cal_fit.temperature_ if cal_fit else None, "opt": opt_temperature}
            if platt_map is not None:
                steps["platt"] = platt_map
            gradients = gradient_diagnostic(self.suite, self.served, test_inputs, test_labels, steps)
            flags.extend(gradient_flags(gradients) if gradients else [])
        audit = ModelAudit(name=name, serve_temperature=cfg.serve_temperature, clean=clean,
                           calibration=calibration, flags=[f.to_dict() for f in flags], opt=opt_summary,
                           gradients=gradients)
        worst = clean_correct.copy()
        for attack in cfg.attacks:
            attack = self.suite.canonical(attack)
            runs = {"served": self._attack(attack, self.served, test_inputs, test_labels, clean_correct, "served")}
            if cal_model is not None:
                runs["cal"] = self._attack(attack, cal_model, test_inputs, test_labels, clean_correct, "cal")
            if opt_model is not None:
                runs["opt"] = self._attack(attack, opt_model, test_inputs, test_labels, clean_correct, "opt")
            if platt_model is not None:
                runs["platt"] = self._attack(attack, platt_model, test_inputs, test_labels, clean_correct, "platt")
            if "transfer" in cfg.piercings:
                runs["transfer"] = self._attack(attack, self.reference, test_inputs, test_labels, clean_correct,
                                                "transfer")
            gap = ior_gap(runs["served"].robust, {k: v.robust for k, v in runs.items() if k != "served"},
                          threshold=cfg.gap_threshold, n_bootstrap=cfg.n_bootstrap, seed=cfg.seed)
            adv_probs = softmax_float32(runs["served"].adversarial_logits)
            survived = np.logical_and.reduce([run.robust for run in runs.values()])
            worst &= survived
            audit.attacks[attack] = {
                "served": runs["served"].accuracy,
                "cal": runs["cal"].accuracy if "cal" in runs else None,
                "opt": runs["opt"].accuracy if "opt" in runs else None,
                **{p: runs[p].accuracy for p in ("platt", "transfer") if p in runs},
                "gap": gap.points, "gap_ci": list(gap.ci), "verdict": gap.verdict,
                "cal_temperature": cal_fit.temperature_ if cal_fit else None,
                "opt_temperature": opt_summary["temperature"] if opt_summary else None,
                "mean_confidence_adversarial": float(adv_probs.max(axis=1)[clean_correct].mean())
                if clean_correct.any() else None,
                "mean_queries": {k: v.mean_queries for k, v in runs.items()},
                "rescoring_disagreements": {k: v.disagreements for k, v in runs.items()},
                "unclaimed_successes": {k: v.unclaimed_successes for k, v in runs.items()},
                "worst_case": float(survived.mean()),
            }
            recheck = {k: v.recheck_failures for k, v in runs.items() if v.recheck_failures}
            if recheck:
                audit.attacks[attack]["recheck_failures"] = recheck
            for key, run in runs.items():
                audit.examples.extend(dict(r, model=name, serve_temperature=cfg.serve_temperature)
                                      for r in run.records)
                if run.disagreements:
                    logger.warning("%s/%s: %d claimed successes did not hold on re-scoring%s", attack, key,
                                   run.disagreements, " (platt's map can change the argmax the attack saw)"
                                   if key == "platt" else "")
        runtime = getattr(temperature_chain(self.served)[0], "runtime", None)
        if runtime and runtime != "torch":
            total = sum(sum(a["rescoring_disagreements"].values()) + sum(a["unclaimed_successes"].values())
                        for a in audit.attacks.values())
            if total:
                audit.flags.append({"code": "runtime-disagreement", "message": (
                    f"on {total} attacked example(s) the {runtime} runtime the attack searched with and the "
                    "torch model disagree (a success the torch model does not confirm, or a miss it calls a "
                    "success); counted as the torch model decides")})
        audit.worst_case = {"accuracy": float(worst.mean()), "attacks": list(audit.attacks),
                            "piercings": ["served", *[p for p in PIERCINGS if p in cfg.piercings]]}
        audit.elapsed_seconds = time.time() - started
        return audit

    @property
    def rescore_group(self) -> int:
        return int(getattr(self.suite, "rescore_group", RESCORE_GROUP))

    @property
    def opt_attack(self) -> str:
        """The attack behind Q(T): the config's, else the suite's default (modality-specific)."""
        return self.suite.canonical(self.config.opt_attack or self.suite.default_opt_attack)

    def _clean_metrics(self, logits, labels):
        cfg = self.config
        probs = softmax_float32(logits)
        preds = predictions(logits)
        confidence = probs[np.arange(len(preds)), preds]
        clean = {"n_examples": int(len(labels)), "accuracy": float((preds == labels).mean()),
                 "mean_confidence": float(confidence.mean())}
        calibration = {
            "ece": expected_calibration_error(probs, labels, n_bins=cfg.n_bins, predictions=preds),
            "mce": maximum_calibration_error(probs, labels, n_bins=cfg.n_bins, predictions=preds),
            "confidence_variance": confidence_variance(probs, predictions=preds),
            "n_bins": cfg.n_bins,
            "reliability": reliability_bins(probs, labels, n_bins=cfg.n_bins, predictions=preds),
        }
        return clean, calibration

    def _calibration_set(self, val_inputs, val_labels, piercing: str):
        """The served model's counted logits on the validation examples ``cal`` and ``platt`` fit on, and
        their labels: computed once per audit, shared by both fits."""
        n = len(val_inputs) if self.config.n_calibration is None else min(self.config.n_calibration, len(val_inputs))
        if n == 0:
            raise ValueError(f"{piercing} needs a labelled validation set, and it is empty")
        if self._calibration is None:
            self._calibration = (counted_logits(self.served, val_inputs[:n]), np.asarray(val_labels[:n]))
        return self._calibration

    def _fit_cal(self, val_inputs, val_labels) -> TemperatureScaling:
        return TemperatureScaling().fit(*self._calibration_set(val_inputs, val_labels, "cal"))

    def _fit_platt(self, val_inputs, val_labels) -> MatrixScaling:
        return MatrixScaling(kind=self.config.platt_kind).fit(*self._calibration_set(val_inputs, val_labels, "platt"))

    def _fit_opt(self, val_inputs, val_labels) -> AdversarialTemperatureSearch:
        cfg = self.config
        n = min(cfg.n_opt, len(val_inputs))
        if n == 0:
            raise ValueError("opt needs a labelled validation set, and it is empty")
        inputs, labels = val_inputs[:n], np.asarray(val_labels[:n])
        correct = predictions(counted_logits(self.served, inputs)) == labels
        attack = self.opt_attack

        def objective(temperature: float) -> float:
            scaled = TemperatureScaled(self.served, temperature)
            return self._attack(attack, scaled, inputs, labels, correct, f"opt T={temperature:.3g}").accuracy

        return AdversarialTemperatureSearch(maxiter=cfg.opt_maxiter, stop=cfg.opt_stop).fit(objective)

    def _attack(self, attack, model, inputs, labels, clean_correct, stage) -> Robustness:
        """Attack ``model`` (the served model, a piercing of it, or the transfer reference) and re-score
        every adversarial input on the served model; a run the checkpoint holds is loaded instead."""
        key = None
        if self.checkpoint is not None:
            key = self.checkpoint.key(attack=attack, stage=stage, model=model, inputs=inputs, labels=labels,
                                      hyperparameters=getattr(self.suite, "suite", self.suite).hyperparameters(attack))
            stored = self.checkpoint.load(key)
            if stored is not None:
                logger.info("%s %s: loaded from the checkpoint", attack, stage)
                return stored
        def core() -> float:  # CPU seconds here and in a sharded suite's workers
            return time.process_time() + getattr(self.suite, "worker_cpu_seconds", 0.0)

        started, cpu = time.time(), core()
        run = self._attack_run(attack, model, inputs, labels, clean_correct, stage)
        if key is not None:
            self.checkpoint.save(key, run, seconds=time.time() - started, core_seconds=core() - cpu)
        return run

    def _attack_run(self, attack, model, inputs, labels, clean_correct, stage) -> Robustness:
        desc = f"T_d={self.config.serve_temperature:g} {attack} {stage}"
        # A sharded suite attacks the model it was built for; the reference is attacked in this process.
        suite = getattr(self.suite, "suite", self.suite) if stage == "transfer" else self.suite
        results = suite.run(attack, model, inputs, labels, desc=desc)
        raw = getattr(results, "rescored_raw_logits", None)  # a sharded run re-scored in its workers
        if raw is None:
            logits = fresh_logits(self.served, self.suite.adversarial_inputs(results), self.rescore_group)
        else:
            logits = apply_temperatures(raw, temperature_chain(self.served)[1])
        still_correct = predictions(logits) == np.asarray(labels)
        robust = clean_correct & still_correct
        claimed = np.array([_succeeded(r) for r in results])
        disagreements = int(np.sum(claimed & still_correct))
        unclaimed = int(np.sum(~claimed & clean_correct & ~still_correct))
        if stage == "transfer":  # claims are about the reference model: not checked against the served one
            disagreements = unclaimed = 0
        queries = self.suite.queries(results)
        attacked = [q for q, ok in zip(queries, clean_correct) if ok]
        record = getattr(self.suite, "record", None)
        records = []
        if record is not None and not stage.startswith("opt T="):
            for i, (result, ok, row) in enumerate(zip(results, robust, logits)):
                records.append(dict(record(result), index=i, attack=attack, stage=stage, robust=bool(ok),
                                    rescored_prediction=int(row.argmax())))
        recheck = getattr(self.suite, "recheck_failures", None)
        return Robustness(robust=robust, adversarial_logits=logits, claimed_successes=int(claimed.sum()),
                          disagreements=disagreements,
                          mean_queries=float(np.mean(attacked)) if attacked else 0.0, records=records,
                          recheck_failures=int(recheck(results)) if recheck else 0, unclaimed_successes=unclaimed)


def _succeeded(result) -> bool:
    outcome = getattr(result, "outcome", None)
    return getattr(outcome, "name", str(outcome)).upper() == "SUCCEEDED"
