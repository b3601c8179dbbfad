"""The store as the report sees it: audits grouped over seeds, with mean ± std of every number.

A *group* is every audit whose configuration is equal but for the training seed (dataset, training
method, training temperature, grad-norm, serving temperature, all other training and audit
settings): the report's rows and ``report.json``'s records.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ior.experiments.config import PIERCINGS
from ior.experiments.grid import config_key, seedless, stage_of, variant_label
from ior.experiments.store import ResultStore
from ior.training.config import METHODS


def mean_std(values) -> dict:
    """``{"mean", "std", "n"}`` over the finite values; std is the sample std (None for n < 2)."""
    finite = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
              and math.isfinite(v)]
    if not finite:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(np.mean(finite)), "std": float(np.std(finite, ddof=1)) if len(finite) > 1 else None,
            "n": len(finite)}


def serve_label(temperature: float) -> str:
    """The paper's names: the model as trained (T_d = 1), ↑conf (T_d < 1), ↓conf (T_d > 1)."""
    if temperature == 1:
        return ""
    return f"↑conf (T_d={temperature:g})" if temperature < 1 else f"↓conf (T_d={temperature:g})"


#: The spacing of float32 numbers just below 1: a probability that close to 1 moves in steps of it.
FLOAT32_STEP_BELOW_ONE = 2.0 ** -24


def confidence_resolution(confidences) -> dict:
    """How finely float32 resolves top-class probabilities ``p`` (float32 values), where the illusion lives.

    ``saturated``: the share with ``p`` exactly 1 (a probability score sees no change at all);
    ``steps``: ``1 − p`` in units of :data:`FLOAT32_STEP_BELOW_ONE` for each ``p`` (integers for
    ``p ≥ 0.5``): a score with a few steps left moves only by whole steps, so a search that ranks
    candidates by it sees ties.

    >>> confidence_resolution([1.0, 1.0 - 3 * 2.0 ** -24])["steps"].tolist()
    [0.0, 3.0]
    """
    p = np.asarray(confidences, dtype=np.float64)
    return {"saturated": float(np.mean(p == 1.0)) if p.size else None,
            "steps": (1.0 - p) / FLOAT32_STEP_BELOW_ONE}


#: Training settings that only say how long a model trains (the training-length view compares them).
LENGTH_SETTINGS = ("epochs", "stop_train_accuracy", "stop_train_loss")


@dataclass
class Audit:
    """One audit cell: a trained model at one serving temperature."""

    key: str
    config: dict
    result: dict

    @property
    def train_key(self) -> str:
        return self.config["train_cell"]

    def accuracy(self, attack: str, piercing: str):
        return (self.result["attacks"].get(attack) or {}).get(stage_of(piercing))


@dataclass
class Group:
    """Audits that differ only in the training seed."""

    key: str
    config: dict
    label: str
    audits: list = field(default_factory=list)

    dataset = property(lambda self: self.config["dataset"])
    method = property(lambda self: self.config["method"])
    train_temperature = property(lambda self: self.config["train_temperature"])
    grad_norm = property(lambda self: self.config["grad_norm"])
    serve_temperature = property(lambda self: self.config["serve_temperature"])
    modality = property(lambda self: self.config.get("modality", "text"))

    @property
    def seeds(self) -> list:
        return sorted(a.config["seed"] for a in self.audits)

    @property
    def family(self) -> tuple:
        """Same training except for the temperature (Table 4, Figure 2)."""
        cfg = seedless(self.config)
        cfg["train"] = {k: v for k, v in cfg["train"].items() if k != "temperature"}
        return tuple(sorted((k, str(v)) for k, v in cfg.items() if k not in ("train_temperature", "serve_temperature")))

    @property
    def length_family(self) -> tuple:
        """Same training except for its length (the epoch cap and the stopping rules), served alike: the
        training-length view. Groups of one family differ in how long their models trained."""
        cfg = seedless(self.config)
        cfg["train"] = {k: v for k, v in cfg["train"].items() if k not in LENGTH_SETTINGS}
        return tuple(sorted((k, str(v)) for k, v in cfg.items()))

    @property
    def variant(self) -> str:
        """The training variant (``standard*``, ``pgd T=200``) without the tag that tells apart groups of one
        label: for views whose columns name the setting that differs."""
        return variant_label(self.method, self.train_temperature, self.grad_norm)

    @property
    def length_setting(self) -> str:
        """How the length was set: ``8 epochs`` or ``≤ 8 epochs, train acc ≥ 0.98``."""
        train = self.config["train"]
        rules = [f"train loss ≤ {train['stop_train_loss']:g}" if train.get("stop_train_loss") is not None else "",
                 f"train acc ≥ {train['stop_train_accuracy']:g}" if train.get("stop_train_accuracy") is not None
                 else ""]
        rules = [r for r in rules if r]
        epochs = train.get("epochs")
        return f"≤ {epochs} epochs, {', '.join(rules)}" if rules else f"{epochs} epochs"

    @property
    def model_group(self) -> str:
        """Same trained models (all serving temperatures)."""
        cfg = seedless(self.config)
        cfg.pop("serve_temperature")
        return config_key(cfg)

    @property
    def attacks(self) -> list:
        return sorted({a for audit in self.audits for a in audit.result["attacks"]})

    def stat(self, getter) -> dict:
        return mean_std(getter(a) for a in self.audits)

    def clean_accuracy(self) -> dict:
        return self.stat(lambda a: a.result["clean"]["accuracy"])

    def mean_confidence(self) -> dict:
        return self.stat(lambda a: a.result["clean"]["mean_confidence"])

    def adversarial(self, attack: str, piercing: str) -> dict:
        return self.stat(lambda a: a.accuracy(attack, piercing))

    def adversarial_confidence(self, attack: str) -> dict:
        return self.stat(lambda a: (a.result["attacks"].get(attack) or {}).get("mean_confidence_adversarial"))

    def gap(self, attack: str) -> dict:
        return self.stat(lambda a: (a.result["attacks"].get(attack) or {}).get("gap"))

    def calibration(self, name: str) -> dict:
        return self.stat(lambda a: a.result["calibration"].get(name))

    def piercings(self) -> list:
        found = {"none"}
        for audit in self.audits:
            for summary in audit.result["attacks"].values():
                found.update(p for p in PIERCINGS if summary.get(p) is not None)
        return [p for p in PIERCINGS if p in found]


def _sort_key(group: Group, datasets: list):
    method = METHODS.index(group.method) if group.method in METHODS else len(METHODS)
    serve = group.serve_temperature
    return (datasets.index(group.dataset), method, group.grad_norm, group.train_temperature,
            0 if serve == 1 else 1 if serve < 1 else 2, serve, group.key)


@dataclass
class ReportData:
    """Everything the report shows, loaded once from the store."""

    groups: list
    train_cells: list
    store: ResultStore

    @property
    def datasets(self) -> list:
        return list(dict.fromkeys(g.dataset for g in self.groups))

    @property
    def attacks(self) -> list:
        return sorted({a for g in self.groups for a in g.attacks})

    def by_dataset(self, dataset: str) -> list:
        return [g for g in self.groups if g.dataset == dataset]

    def modality(self, dataset: str) -> str:
        return next((g.modality for g in self.by_dataset(dataset)), "text")

    @cached_property
    def _train_by_key(self) -> dict:
        return {c["key"]: c for c in self.train_cells}

    def train_cell(self, key: str) -> dict | None:
        """The stored training cell ``key`` (None when the store has none)."""
        return self._train_by_key.get(key)

    def trained(self, group, field: str) -> dict:
        """Mean ± std over seeds of the final training record's ``field`` (``step``, ``epoch``,
        ``train_loss``, ...) of the group's models, from their training cells."""
        return group.stat(lambda a: (((self.train_cell(a.train_key) or {}).get("result") or {}).get("metrics", {})
                                     .get("final") or {}).get(field))

    _resolution_by_audit: dict = field(default_factory=dict, init=False, repr=False)

    def _resolution(self, audit: Audit) -> dict:
        cache = self._resolution_by_audit
        if audit.key not in cache:
            cache[audit.key] = confidence_resolution([r["confidence"] for r in self.store.examples(audit.key, "clean")])
        return cache[audit.key]

    def saturated_share(self, group) -> dict:
        """Mean ± std over seeds of the share of clean test examples whose served top-class probability
        is exactly 1 in float32."""
        return group.stat(lambda a: self._resolution(a)["saturated"])

    def median_steps_to_one(self, group) -> float | None:
        """The median over the clean test examples of every seed of ``1 − p`` in float32 steps (2^-24)."""
        steps = np.concatenate([self._resolution(a)["steps"] for a in group.audits] or [np.empty(0)])
        return float(np.median(steps)) if steps.size else None

    def gradient_zero_share(self, group, stage: str) -> dict:
        """Mean ± std over seeds of the share of exactly-zero input gradients at ``stage``."""
        return group.stat(lambda a: ((a.result.get("gradients") or {}).get(stage) or {}).get("zero_fraction"))


def load_report_data(store: ResultStore) -> ReportData:
    """Group the store's audit cells over seeds, sorted as the paper's tables are."""
    groups: dict[str, Group] = {}
    for cell in store.cells("audit"):
        config = cell["result"]["config"]
        audit = Audit(key=cell["key"], config=config, result=cell["result"])
        key = config_key(seedless(config))
        if key not in groups:
            label = variant_label(config["method"], config["train_temperature"], config["grad_norm"])
            groups[key] = Group(key=key, config=seedless(config), label=label)
        groups[key].audits.append(audit)
    found = list(groups.values())
    # Two groups with the same label differ in some other setting: tell them apart.
    by_label = defaultdict(list)
    for g in found:
        by_label[(g.dataset, g.label, g.serve_temperature)].append(g)
    for same in by_label.values():
        if len(same) > 1:
            for g in same:
                g.label = f"{g.label} [{g.model_group[:6]}]"
    datasets = list(dict.fromkeys(g.dataset for g in found))
    found.sort(key=lambda g: _sort_key(g, datasets))
    return ReportData(groups=found, train_cells=store.cells("train"), store=store)


def row_label(group: Group) -> str:
    serve = serve_label(group.serve_temperature)
    return f"{group.label} {serve}".strip()


def pct(stat: dict, *, digits: int = 2) -> str:
    """``88.96 ± 0.31`` (percent) from a :func:`mean_std` of fractions; ``–`` when missing."""
    if stat["mean"] is None:
        return "–"
    text = f"{100 * stat['mean']:.{digits}f}"
    return text if stat["std"] is None else f"{text} ± {100 * stat['std']:.{digits}f}"


def points(stat: dict, *, digits: int = 2) -> str:
    """Like :func:`pct` for values already in points (the IOR gap)."""
    if stat["mean"] is None:
        return "–"
    text = f"{stat['mean']:+.{digits}f}"
    return text if stat["std"] is None else f"{text} ± {stat['std']:.{digits}f}"


def float32_steps(value: float | None) -> str:
    """``3``, ``5,600``, ``1.7e+06`` float32 steps below 1; ``–`` when missing."""
    if value is None:
        return "–"
    return f"{value:,.0f}" if value < 1e5 else f"{value:.1e}"
