"""Grid expansion: a sweep config becomes a plan of cells, each keyed by a hash of its configuration.

Two kinds of cell do the work:

- a **training cell** per dataset × method × training temperature × grad-norm × seed (× the block's
  training settings) trains one model into ``OUT/models/<key>``. A ``dg-aug`` cell depends on the
  standard model it attacks (same dataset and seed, the sweep's base training settings, T = 1, no
  normalization), which joins the plan as a training cell even when the grid does not list it;
- an **audit cell** per trained model × serving temperature runs one audit (``ior.audit.run.Auditor``),
  which yields every attack's accuracy served (``none``), after ``cal`` and after ``opt``. It stores
  one **result** per attack × piercing, each with its own key. Requests for the same model and serving
  temperature from several sub-grids are merged into one audit over the union of their attacks and
  piercings.

A key is the first 16 hex digits of the sha256 of the canonical JSON of the cell's configuration:
everything that determines its output (the base model's weights hash, the data's fingerprints, every
TrainConfig or AuditConfig field that applies, the key of each cell it depends on) and nothing that
does not (paths, worker counts, names).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from itertools import product

from ior.audit.config import DEFAULT_OPT_ATTACKS, AuditConfig
from ior.experiments.config import GRID_AUDIT_FIELDS, PIERCINGS, DatasetSpec, GridBlock, SweepConfig
from ior.training.config import METHOD_FIELDS, TrainConfig

#: Bump when a cell's computation changes meaning, so that old results are not reused.
CELL_VERSION = 1
KEY_LENGTH = 16
_AT_FIELDS = frozenset(name for names in METHOD_FIELDS.values() for name in names)
_STAGE = {"none": "served", "cal": "cal", "opt": "opt", "platt": "platt", "transfer": "transfer"}


def canonical_json(obj) -> str:
    """JSON with sorted keys and no whitespace; NaN and infinity are refused (they do not round-trip)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def config_key(config) -> str:
    """The key of a cell: a stable hash of its configuration."""
    return hashlib.sha256(canonical_json(config).encode("utf-8")).hexdigest()[:KEY_LENGTH]


def stage_of(piercing: str) -> str:
    """The audit's name for a piercing (``none`` is the attack on the served model)."""
    return _STAGE[piercing]


@dataclass(frozen=True)
class ResultPoint:
    """One grid point: an attack × piercing result of an audit cell."""

    key: str
    attack: str
    piercing: str
    config: dict


@dataclass(frozen=True)
class Cell:
    """A unit of work. ``config`` is what the key hashes; ``spec`` is what a worker needs to run it."""

    key: str
    kind: str
    config: dict
    requires: tuple[str, ...]
    label: str
    spec: dict
    results: tuple[ResultPoint, ...] = ()


@dataclass(frozen=True)
class Plan:
    """The cells of a sweep, training cells first (a dependency before its dependents)."""

    cells: tuple[Cell, ...]
    resolved: bool
    by_key: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        self.by_key.update({c.key: c for c in self.cells})

    def of_kind(self, kind: str) -> list[Cell]:
        return [c for c in self.cells if c.kind == kind]

    @property
    def results(self) -> list[ResultPoint]:
        return [r for c in self.cells for r in c.results]

    def size(self) -> dict:
        return {"train_cells": len(self.of_kind("train")), "audit_cells": len(self.of_kind("audit")),
                "results": len(self.results)}


def variant_label(method: str, temperature: float, grad_norm: bool) -> str:
    """``pgd*`` for pgd with grad-norm, ``standard* T=200`` for a training temperature."""
    label = method + ("*" if grad_norm else "")
    return label if temperature == 1 else f"{label} T={temperature:g}"


def _train_dict(config: TrainConfig) -> dict:
    """The TrainConfig fields that determine the model (the base model and data are keyed apart)."""
    used = set(METHOD_FIELDS[config.method])
    return {k: v for k, v in config.to_dict().items()
            if k not in ("model", "dataset", "augment_from") and (k not in _AT_FIELDS or k in used)
            and not (k in ("stop_train_loss", "stop_train_accuracy") and v is None)}  # keys planned before the rules


class _Planner:
    def __init__(self, config: SweepConfig, identities: dict | None):
        self.config = config
        self.identities = identities
        self.train_cells: dict[str, Cell] = {}
        self.audits: dict[tuple, dict] = {}

    def data_config(self, dataset: DatasetSpec) -> dict:
        ident = (self.identities or {}).get("datasets", {}).get(dataset.name, {})
        if self.config.modality == "image":  # no columns: what an image layout holds is fixed
            return {"spec": dataset.spec, "fingerprints": ident.get("fingerprints")}
        return {"spec": dataset.spec, "text_column": dataset.text_column,
                "text_pair_column": dataset.text_pair_column, "label_column": dataset.label_column,
                "pair_separator": dataset.pair_separator if dataset.text_pair_column else None,
                "splits": dataset.split_names, "fingerprints": ident.get("fingerprints")}

    def settings_tag(self, settings: dict) -> str:
        """`` [epochs=6]``: the training settings a grid block changes from the sweep's own, so that cells
        differing only in them have telling labels (labels are not part of any key)."""
        base = self.config.train_settings()
        changed = {k: v for k, v in settings.items() if base.get(k) != v}
        return f" [{', '.join(f'{k}={v}' for k, v in sorted(changed.items()))}]" if changed else ""

    def model_config(self) -> dict:
        return (self.identities or {}).get("model") or {"spec": self.config.model, "weights_sha256": None}

    def train_cell(self, dataset: DatasetSpec, settings: dict, method: str, temperature: float, grad_norm: bool,
                   seed: int) -> Cell:
        if self.config.modality == "image":
            return self.image_train_cell(dataset, settings, method, temperature, grad_norm, seed)
        source = None
        if method == "dg-aug":
            base = self.config.train_settings()
            source = self.train_cell(dataset, base, "standard", 1.0, False, seed).key
        train = TrainConfig(model="<model>", dataset=dataset.spec, preset=self.config.preset, **settings,
                            method=method, temperature=temperature, grad_norm=grad_norm, seed=seed,
                            augment_from="<source>" if source else None)
        key_config = {"kind": "train", "version": CELL_VERSION, "model": self.model_config(),
                      "data": self.data_config(dataset), "train": _train_dict(train), "augment_from": source}
        key = config_key(key_config)
        if key not in self.train_cells:
            label = f"{dataset.name} {variant_label(method, temperature, grad_norm)} seed={seed}"
            label += self.settings_tag(settings)
            spec = {"kind": "train", "key": key, "label": label, "model": self.config.model,
                    "dataset": dataset.to_dict(), "fingerprints": key_config["data"]["fingerprints"],
                    "train": {k: v for k, v in train.to_dict().items() if k not in ("model", "dataset", "augment_from")},
                    "augment_from": source}
            self.train_cells[key] = Cell(key=key, kind="train", config=key_config,
                                         requires=(source,) if source else (), label=label, spec=spec)
        return self.train_cells[key]

    def image_train_cell(self, dataset: DatasetSpec, settings: dict, method: str, temperature: float,
                         grad_norm: bool, seed: int) -> Cell:
        from ior.training.images import METHOD_FIELDS as IMAGE_METHOD_FIELDS
        from ior.training.images import ImageTrainConfig

        train = ImageTrainConfig(dataset=dataset.spec, preset=self.config.preset, **settings, method=method,
                                 temperature=temperature, grad_norm=grad_norm, seed=seed)
        unused = {f for fields in IMAGE_METHOD_FIELDS.values() for f in fields} - set(IMAGE_METHOD_FIELDS[method])
        train_dict = {k: v for k, v in train.to_dict().items() if k != "dataset" and k not in unused}
        key_config = {"kind": "train", "version": CELL_VERSION, "modality": "image",
                      "data": self.data_config(dataset), "train": train_dict}
        key = config_key(key_config)
        if key not in self.train_cells:
            label = f"{dataset.name} {variant_label(method, temperature, grad_norm)} seed={seed}"
            label += self.settings_tag(settings)
            spec = {"kind": "train", "key": key, "label": label, "modality": "image", "model": "",
                    "dataset": dataset.to_dict(), "fingerprints": key_config["data"]["fingerprints"],
                    "train": {k: v for k, v in train.to_dict().items() if k != "dataset"}, "augment_from": None}
            self.train_cells[key] = Cell(key=key, kind="train", config=key_config, requires=(), label=label,
                                         spec=spec)
        return self.train_cells[key]

    def request_audit(self, dataset, cell: Cell, serve_temperature: float, block: GridBlock, variant: dict):
        slot = self.audits.setdefault((cell.key, serve_temperature), {
            "dataset": dataset, "train": cell, "serve_temperature": serve_temperature, "attacks": {},
            "piercings": set(), "variant": variant})
        slot["attacks"].update(dict.fromkeys(block.attacks))
        slot["piercings"].update(block.piercings)
        if "transfer" in block.piercings:  # Table 15: examples crafted on the standard model at T = 1
            reference = self.train_cell(dataset, self.config.train_settings(), "standard", 1.0, False,
                                        variant["seed"])
            slot["transfer_from"] = reference.key

    def audit_settings(self) -> dict:
        full = AuditConfig(**self.config.audit_settings).to_dict()
        # The key records the attack that runs: the modality's default when the config names none.
        full["opt_attack"] = full["opt_attack"] or DEFAULT_OPT_ATTACKS[self.config.modality]
        settings = {k: v for k, v in full.items() if k not in GRID_AUDIT_FIELDS}
        if settings["opt_stop"] == "maxiter":  # the search before the plateau rule: the keys it had then
            del settings["opt_stop"]
        if settings["platt_kind"] == "matrix":  # the default, absent from keys planned before platt existed
            del settings["platt_kind"]
        if self.config.modality == "image":  # epsilon None: the dataset's default, fixed by its spec
            return settings | {"attack": self.config.attack_settings}
        return settings | {"score": self.config.score}

    def audit_cells(self) -> list[Cell]:
        settings = self.audit_settings()
        wi = self.config.word_importance
        served_at = {}
        for train_key, serve in self.audits:
            served_at.setdefault(train_key, set()).add(serve)
        cells = []
        for (train_key, serve), slot in self.audits.items():
            temps = served_at[train_key]
            # Table 20 pairs a model at T_d = 1 with its ↑conf twin (T_d < 1): rank words for both.
            twin = 1.0 in temps and any(t < 1 for t in temps) and (serve == 1.0 or serve < 1)
            attacks = sorted(slot["attacks"])
            piercings = [p for p in PIERCINGS if p in slot["piercings"]]
            word_importance = ({"attacks": sorted(wi.attacks), "n_examples": wi.n_examples}
                               if wi.enabled and twin else None)
            key_config = {"kind": "audit", "version": CELL_VERSION, "train": train_key, "serve_temperature": serve,
                          "attacks": attacks, "piercings": piercings, "audit": settings,
                          "word_importance": word_importance}
            reference = slot.get("transfer_from")
            if reference is not None:  # absent otherwise: the keys of audits without transfer are unchanged
                key_config["transfer_from"] = reference
            key = config_key(key_config)
            train = slot["train"]
            variant = slot["variant"]
            flat = {"dataset": slot["dataset"].name, "dataset_spec": slot["dataset"].spec,
                    "model": self.config.model, **variant, "serve_temperature": serve,
                    "train": train.spec["train"], "audit": settings, "train_cell": train_key, "audit_cell": key}
            if self.config.modality != "text":  # text rows stay as stores made before images hold them
                flat["modality"] = self.config.modality
            results = tuple(
                ResultPoint(key=config_key({"kind": "result", "version": CELL_VERSION, "audit": key,
                                            "attack": attack, "piercing": piercing}),
                            attack=attack, piercing=piercing, config=flat | {"attack": attack, "piercing": piercing})
                for attack in attacks for piercing in piercings)
            label = f"{train.label} T_d={serve:g}"
            spec = {"kind": "audit", "key": key, "label": label, "train_key": train_key, "modality": self.config.modality,
                    "dataset": slot["dataset"].to_dict(), "fingerprints": train.spec["fingerprints"],
                    "serve_temperature": serve, "attacks": attacks, "piercings": piercings, "audit": settings,
                    "word_importance": word_importance, "config": flat, "transfer_from": reference,
                    "results": [{"key": r.key, "attack": r.attack, "piercing": r.piercing} for r in results]}
            requires = (train_key,) if reference is None or reference == train_key else (train_key, reference)
            cells.append(Cell(key=key, kind="audit", config=key_config, requires=requires, label=label,
                              spec=spec, results=results))
        return cells


def plan_sweep(config: SweepConfig, identities: dict | None = None) -> Plan:
    """Expand ``config`` into cells.

    Parameters
    ----------
    config : SweepConfig
    identities : dict, optional
        From :func:`ior.experiments.data.resolve_identities` (the data fingerprints and base model
        weights hash). Without it the plan has the right shape and sizes but its keys do not cover the
        data's content (``plan.resolved`` is False); a sweep always resolves.
    """
    planner = _Planner(config, identities)
    for dataset in config.datasets:
        for block in config.blocks:
            settings = config.train_settings(block)
            for method, temperature, grad_norm, seed in product(block.methods, block.train_temperatures,
                                                                block.grad_norm, block.seeds):
                cell = planner.train_cell(dataset, settings, method, temperature, grad_norm, seed)
                variant = {"method": method, "train_temperature": temperature, "grad_norm": grad_norm, "seed": seed}
                for serve in block.serve_temperatures:
                    planner.request_audit(dataset, cell, serve, block, variant)
    train_cells = list(planner.train_cells.values())  # sources are created before their dependents
    return Plan(cells=tuple(train_cells + planner.audit_cells()), resolved=identities is not None)


def select_cells(plan: Plan, pattern: str) -> Plan:
    """The cells whose ``"<kind> <label>"`` matches the regular expression ``pattern`` (``re.search``:
    ``"seed=2"``, ``"epochs=(16|32)"``, ``"audit .*T_d=1e\\+06"``), with every training cell they need,
    in plan order. A cell's key does not depend on the selection, so a selected run fills the same
    store as the whole sweep would.
    """
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"--only {pattern!r} is not a regular expression: {exc}") from None
    keep = {c.key for c in plan.cells if regex.search(f"{c.kind} {c.label}")}
    if not keep:
        example = f", e.g. {plan.cells[-1].kind + ' ' + plan.cells[-1].label!r}" if plan.cells else ""
        raise ValueError(f"--only {pattern!r} matches none of the {len(plan.cells)} cells (it is matched against "
                         f"'<kind> <label>'{example})")
    stack = list(keep)
    while stack:  # what the selected cells need, and what that needs (dg-aug's standard model)
        for required in plan.by_key[stack.pop()].requires:
            if required not in keep:
                keep.add(required)
                stack.append(required)
    return Plan(cells=tuple(c for c in plan.cells if c.key in keep), resolved=plan.resolved)


def grid_size(config: SweepConfig) -> dict:
    """Training cells, audit cells and results (attack × piercing) of ``config``, without loading data."""
    return plan_sweep(config).size()


def seedless(flat: dict) -> dict:
    """A result's configuration without what varies between seeds: the group that mean ± std is over."""
    out = {k: v for k, v in flat.items() if k not in ("seed", "train_cell", "audit_cell")}
    out["train"] = {k: v for k, v in flat.get("train", {}).items() if k != "seed"}
    return out


def group_key(flat: dict) -> str:
    return config_key(seedless(flat))


def is_finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
