"""Sweep configuration: one validated dataclass, loaded from YAML, checked before any work starts.

A sweep is a grid over dataset × training method × training temperature × grad-norm × seed ×
serving temperature × attack × piercing. The top level gives every axis a default; ``grid`` (optional)
is a list of sub-grids, each overriding some axes (and ``train`` settings), and the sweep is their
union, so "all methods once, the temperature sweep only for ``standard*``" is two short entries::

    name: demo
    model: minilm                   # the offline all-MiniLM-L6-v2, a local folder or a hub name
    datasets: [rt]                  # or {spec: hf:NAME[:CONFIG], name: ..., text_column: ..., splits: ...}
    seeds: [0, 1, 2]
    preset: cpu
    train: {max_train_examples: 2000}     # TrainConfig fields for every model
    serve_temperatures: [1]
    attacks: [deepwordbug, pwws]
    piercings: [none, cal, opt]     # also platt, and transfer (crafted on standard T=1, same seed)
    audit: {n_examples: 300, n_opt: 100}  # AuditConfig fields (and the attack ``score``)
    word_importance: {attacks: [pwws], n_examples: 100}
    grid:
      - methods: [standard]
        serve_temperatures: [1, 0.01, 1e6]
      - methods: [standard]
        grad_norm: [true]
        train_temperatures: [1, 10, 100, 200, 2000]

Image sweeps say ``modality: image`` (or list only image datasets: ``fashion-mnist``, ``mnist``, a
CIFAR/TinyImageNet/image-folder/npz path); there is no ``model`` (the ``train.arch`` network is
trained from scratch), ``preset``/``train`` are :class:`ior.training.images.ImageTrainConfig`'s,
``methods`` are standard/pgd/trades/ddi, ``attacks`` are pgd/apgd-ce/apgd-dlr/square/fab/autoattack
and ``audit`` also takes the attack budgets (``epsilon``, ``pgd_steps``, ``pgd_step_size``,
``apgd_steps``, ``fab_steps``, ``square_queries``, ``attack_batch_size``)::

    name: images
    modality: image
    datasets: [fashion-mnist]
    preset: cpu
    train: {arch: cnn, epochs: 5}
    attacks: [pgd, apgd-dlr, autoattack]
    audit: {n_examples: 1000, n_opt: 500}
    grid:
      - serve_temperatures: [1, 0.01, 1e6]

Every error is a :class:`SweepConfigError` (a ``ValueError``) whose message starts with the
offending field's path, e.g. ``grid[1].methods[0]: must be one of [...], got 'pgdd'``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from ior.audit.config import AuditConfig
from ior.experiments.fields import (SweepConfigError, attack, axis, boolean, choice, integer, join, mapping,
                                    overrides, reject_unknown, string, temperature, typed)
from ior.training.config import METHODS, PRESETS, TrainConfig
from ior.training.images import IMAGE_METHODS, IMAGE_PRESETS, ImageTrainConfig

#: ``transfer`` crafts on the standard model at T = 1 of the same dataset and seed (planned as a dependency).
PIERCINGS = ("none", "cal", "opt", "platt", "transfer")
MODALITIES = ("text", "image")
#: The image attacks' budgets, accepted in ``audit`` beside the AuditConfig fields (image sweeps).
IMAGE_ATTACK_SETTINGS = ("epsilon", "pgd_steps", "pgd_step_size", "apgd_steps", "fab_steps", "square_queries",
                         "attack_batch_size")
#: TrainConfig / ImageTrainConfig fields that the grid sets; ``train`` may not.
GRID_IMAGE_TRAIN_FIELDS = ("dataset", "preset", "method", "temperature", "grad_norm", "seed")
#: The model name that stands for the offline MiniLM encoder (resolved on each machine).
DEFAULT_MODEL = "minilm"
#: TrainConfig fields that the grid sets; ``train`` may not.
GRID_TRAIN_FIELDS = ("model", "dataset", "preset", "method", "temperature", "grad_norm", "seed", "augment_from")
#: AuditConfig fields that the grid sets; ``audit`` may not.
GRID_AUDIT_FIELDS = ("serve_temperature", "attacks", "piercings")
SCORES = ("probability", "margin")
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of the sweep.

    ``spec`` is anything ``ior.data.loaders.load_text_dataset`` accepts (``rt``, ``hf:NAME[:CONFIG]``,
    a local file or folder of split files). ``splits`` maps train/validation/test to the source's split
    names (a hub split may be a slice such as ``train[:90%]``). Pair tasks give ``text_pair_column``:
    the two segments are joined with ``pair_separator`` into one text, which the attacks may perturb
    anywhere (as TextAttack perturbs both columns of a pair by default). ``encoding`` is a local
    file's character encoding (default UTF-8).
    """

    spec: str
    name: str = ""
    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str = "label"
    pair_separator: str = " [SEP] "
    splits: tuple[tuple[str, str], ...] = (("train", "train"), ("validation", "validation"), ("test", "test"))
    encoding: str | None = None

    def __post_init__(self):
        if not self.name:
            object.__setattr__(self, "name", default_dataset_name(self.spec))

    @property
    def split_names(self) -> dict:
        return dict(self.splits)

    def is_local(self) -> bool:
        from ior.data.images import IMAGE_DATASET_NAMES
        from ior.data.loaders import is_prepared_text_dataset

        name = self.spec.strip().lower()
        return not is_prepared_text_dataset(name) and name not in IMAGE_DATASET_NAMES \
            and not self.spec.startswith("hf:")

    def to_dict(self) -> dict:
        return {"spec": self.spec, "name": self.name, "text_column": self.text_column,
                "text_pair_column": self.text_pair_column, "label_column": self.label_column,
                "pair_separator": self.pair_separator, "splits": dict(self.splits)} \
            | ({"encoding": self.encoding} if self.encoding else {})  # absent by default: cell keys unchanged


def default_dataset_name(spec: str) -> str:
    from ior.data.loaders import PREPARED_TEXT_DATASETS

    canonical = PREPARED_TEXT_DATASETS.get(spec.strip().lower())
    if canonical is not None:
        return "rt" if canonical == "rotten_tomatoes" else canonical
    if spec.startswith("hf:"):
        parts = spec[3:].split(":")
        return parts[-1].split("/")[-1]
    return Path(spec).stem or spec


def _dataset(value, path: str) -> DatasetSpec:
    if isinstance(value, str):
        value = {"spec": value}
    data = mapping(value, path)
    known = {f.name for f in fields(DatasetSpec)}
    reject_unknown(data, known, path)
    if "spec" not in data:
        raise SweepConfigError(join(path, "spec"), "is required (rt, trec, r8, hf:NAME[:CONFIG], or a local path)")
    spec = string(data["spec"], join(path, "spec"))
    kwargs = {"spec": spec}
    for key in ("name", "text_column", "label_column", "pair_separator"):
        if key in data:
            kwargs[key] = string(data[key], join(path, key)) if key != "pair_separator" \
                else typed(data[key], "str", join(path, key))
    if data.get("encoding") is not None:
        from ior.data.readers import check_encoding

        try:
            kwargs["encoding"] = check_encoding(string(data["encoding"], join(path, "encoding")))
        except ValueError as exc:
            raise SweepConfigError(join(path, "encoding"), str(exc)) from None
    if data.get("text_pair_column") is not None:
        kwargs["text_pair_column"] = string(data["text_pair_column"], join(path, "text_pair_column"))
    if "splits" in data:
        splits = mapping(data["splits"], join(path, "splits"))
        reject_unknown(splits, SPLITS, join(path, "splits"))
        merged = dict(DatasetSpec.splits) | {k: string(v, join(join(path, "splits"), k)) for k, v in splits.items()}
        kwargs["splits"] = tuple((k, merged[k]) for k in SPLITS)
    dataset = DatasetSpec(**kwargs)
    if dataset.is_local() and not Path(spec).expanduser().exists():
        raise SweepConfigError(join(path, "spec"), f"dataset not found: {spec!r} is not 'rt', 'trec', 'r8', 'hf:NAME[:CONFIG]' "
                                                    "or an existing file or folder")
    if spec.startswith("hf:"):
        parts = spec[3:].split(":")
        if len(parts) > 2 or not parts[0] or (len(parts) == 2 and not parts[1]):
            raise SweepConfigError(join(path, "spec"), f"hub spec must be 'hf:NAME' or 'hf:NAME:CONFIG', got {spec!r}")
    return dataset


@dataclass(frozen=True)
class GridBlock:
    """One sub-grid: the axes it sets, the others inherited from the sweep's top level."""

    methods: tuple[str, ...]
    train_temperatures: tuple[float, ...]
    grad_norm: tuple[bool, ...]
    seeds: tuple[int, ...]
    serve_temperatures: tuple[float, ...]
    attacks: tuple[str, ...]
    piercings: tuple[str, ...]
    train: Mapping = field(default_factory=dict)
    name: str = ""


def _image_attack(value, path: str) -> str:
    from ior.attacks.image import canonical_attack as canonical_image_attack

    try:
        return canonical_image_attack(string(value, path))
    except ValueError as exc:
        raise SweepConfigError(path, str(exc)) from None


AXES = {
    "methods": lambda v, p: choice(v, METHODS, p),
    "train_temperatures": temperature,
    "grad_norm": boolean,
    "seeds": lambda v, p: integer(v, p, minimum=0),
    "serve_temperatures": temperature,
    "attacks": attack,
    "piercings": lambda v, p: choice(v, PIERCINGS, p),
}
#: The axes whose values differ for images.
IMAGE_AXES = AXES | {"methods": lambda v, p: choice(v, IMAGE_METHODS, p), "attacks": _image_attack}
AXIS_DEFAULTS = {"methods": ("standard",), "train_temperatures": (1.0,), "grad_norm": (False,), "seeds": (0,),
                 "serve_temperatures": (1.0,), "attacks": ("deepwordbug", "pwws"),
                 "piercings": ("none", "cal", "opt")}
IMAGE_AXIS_DEFAULTS = AXIS_DEFAULTS | {"attacks": ("pgd", "apgd-dlr")}


def _modality_parts(modality: str):
    """(axes, axis defaults, presets, train config class, grid-set train fields) of a modality."""
    if modality == "image":
        return IMAGE_AXES, IMAGE_AXIS_DEFAULTS, IMAGE_PRESETS, ImageTrainConfig, GRID_IMAGE_TRAIN_FIELDS
    return AXES, AXIS_DEFAULTS, PRESETS, TrainConfig, GRID_TRAIN_FIELDS


@dataclass(frozen=True)
class WordImportanceConfig:
    """Table 20: first-iteration word importance of ``attacks`` on ``n_examples`` test examples,
    computed for a model served at T_d = 1 and its ↑conf twin (the same model at T_d < 1)."""

    attacks: tuple[str, ...] = ()
    n_examples: int = 0

    @property
    def enabled(self) -> bool:
        return bool(self.attacks) and self.n_examples > 0


@dataclass(frozen=True)
class SweepConfig:
    """A whole sweep; see the module docstring for the YAML layout.

    ``train`` holds :class:`ior.training.config.TrainConfig` fields shared by every model (on top of
    ``preset``), ``audit`` holds :class:`ior.audit.config.AuditConfig` fields shared by every audit
    plus the attack ``score``; ``blocks`` is the expanded ``grid``.
    """

    name: str
    model: str
    datasets: tuple[DatasetSpec, ...]
    blocks: tuple[GridBlock, ...]
    preset: str = "cpu"
    train: Mapping = field(default_factory=dict)
    audit: Mapping = field(default_factory=dict)
    word_importance: WordImportanceConfig = WordImportanceConfig()
    description: str = ""
    modality: str = "text"

    def __post_init__(self):
        if not self.datasets:
            raise SweepConfigError("datasets", "must list at least one dataset")
        names = [d.name for d in self.datasets]
        for i, name in enumerate(names):
            if names.index(name) != i:
                raise SweepConfigError(f"datasets[{i}].name", f"duplicate dataset name {name!r}; set distinct names")
        if not self.blocks:
            raise SweepConfigError("grid", "must hold at least one sub-grid")
        check_buildable(self)

    # The audit settings as AuditConfig keyword arguments (without the grid's fields, ``score`` and
    # the image attacks' budgets).
    @property
    def audit_settings(self) -> dict:
        return {k: v for k, v in self.audit.items() if k != "score" and k not in IMAGE_ATTACK_SETTINGS}

    @property
    def attack_settings(self) -> dict:
        """The image attacks' budgets given in ``audit`` (None for each one left to its default)."""
        return {k: self.audit.get(k) for k in IMAGE_ATTACK_SETTINGS}

    @property
    def score(self) -> str:
        return self.audit.get("score", "probability")

    def train_settings(self, block: GridBlock | None = None) -> dict:
        """Preset values, then the top-level ``train``, then the block's ``train`` (when given)."""
        presets = IMAGE_PRESETS if self.modality == "image" else PRESETS
        return dict(presets[self.preset]) | dict(self.train) | dict(block.train if block is not None else {})

    @classmethod
    def from_dict(cls, data, *, source: str = "") -> "SweepConfig":
        return parse_sweep_config(data, source=source)

    @classmethod
    def from_yaml(cls, path) -> "SweepConfig":
        return load_sweep_config(path)


TOP_LEVEL = {"name", "description", "modality", "model", "preset", "datasets", "train", "audit", "word_importance",
             "grid", *AXES}
BLOCK_FIELDS = {"name", "train", *AXES}


def parse_sweep_config(data, *, source: str = "") -> SweepConfig:
    """Validate a parsed YAML document and build the :class:`SweepConfig`."""
    if not isinstance(data, Mapping):
        raise SweepConfigError("", f"a sweep config must be a YAML mapping, got {type(data).__name__}")
    data = mapping(data, "")
    reject_unknown(data, TOP_LEVEL, "")
    name = string(data.get("name", Path(source).stem if source else "sweep"), "name")
    if "datasets" not in data or data["datasets"] in (None, [], ""):
        raise SweepConfigError("datasets", "is required: list at least one dataset (rt, hf:NAME[:CONFIG] or a path)")
    raw_datasets = data["datasets"] if isinstance(data["datasets"], list) else [data["datasets"]]
    modality = _modality(data.get("modality"), raw_datasets)
    axes_checks, axis_defaults, presets, train_cls, train_forbidden = _modality_parts(modality)
    if modality == "image":
        if data.get("model") is not None:
            raise SweepConfigError("model", "image sweeps train train.arch from scratch: remove 'model'")
        if data.get("word_importance"):
            raise SweepConfigError("word_importance", "is a text diagnostic (Table 20); remove it for images")
        model = ""
    else:
        if "model" not in data:
            raise SweepConfigError("model", f"is required ({DEFAULT_MODEL!r}, a local model folder or a hub name)")
        model = string(data["model"], "model")
        if model.startswith(("/", ".", "~")) and not Path(model).expanduser().exists():
            raise SweepConfigError("model", f"model folder {model!r} does not exist")
    preset = choice(data.get("preset", "cpu"), sorted(presets), "preset")
    datasets = tuple(_dataset(d, f"datasets[{i}]") for i, d in enumerate(raw_datasets))
    train = overrides(data.get("train"), train_cls, train_forbidden, "train")
    extra = ("score",) + (IMAGE_ATTACK_SETTINGS if modality == "image" else ())
    audit = overrides(data.get("audit"), AuditConfig, GRID_AUDIT_FIELDS, "audit", extra=extra)
    if "score" in audit:
        if modality == "image":
            raise SweepConfigError("audit.score", "is a text attack setting")
        choice(audit["score"], SCORES, "audit.score")
    if "opt_attack" in audit:
        check = _image_attack if modality == "image" else attack
        audit["opt_attack"] = check(audit["opt_attack"], "audit.opt_attack")
    defaults = {name_: axis(data[name_], name_, check) if name_ in data else axis_defaults[name_]
                for name_, check in axes_checks.items()}
    grid = data.get("grid")
    if grid is None:
        blocks = (GridBlock(**defaults, train={}, name=""),)
    else:
        if not isinstance(grid, list) or not grid:
            raise SweepConfigError("grid", "must be a non-empty list of sub-grids")
        blocks = tuple(_block(entry, f"grid[{i}]", defaults, modality) for i, entry in enumerate(grid))
    word_importance = _word_importance(data.get("word_importance"), "word_importance")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise SweepConfigError("description", "must be a string")
    return SweepConfig(name=name, model=model, datasets=datasets, blocks=blocks, preset=preset, train=train,
                       audit=audit, word_importance=word_importance, description=description, modality=modality)


def _modality(value, raw_datasets) -> str:
    """``modality`` as written, else image when every dataset is an image dataset."""
    if value is not None:
        return choice(value, MODALITIES, "modality")
    from ior.data.images import is_image_dataset

    specs = [d.get("spec") if isinstance(d, Mapping) else d for d in raw_datasets]
    return "image" if specs and all(isinstance(s, str) and is_image_dataset(s) for s in specs) else "text"


def _block(entry, path: str, defaults: dict, modality: str = "text") -> GridBlock:
    axes_checks, _, _, train_cls, train_forbidden = _modality_parts(modality)
    entry = mapping(entry, path)
    reject_unknown(entry, BLOCK_FIELDS, path)
    axes = {name_: axis(entry[name_], join(path, name_), check) if name_ in entry else defaults[name_]
            for name_, check in axes_checks.items()}
    train = overrides(entry.get("train"), train_cls, train_forbidden, join(path, "train"))
    name = entry.get("name", "")
    if not isinstance(name, str):
        raise SweepConfigError(join(path, "name"), "must be a string")
    return GridBlock(**axes, train=train, name=name)


def _word_importance(value, path: str) -> WordImportanceConfig:
    data = mapping(value, path)
    reject_unknown(data, {"attacks", "n_examples"}, path)
    attacks = axis(data["attacks"], join(path, "attacks"), attack) if data.get("attacks") else ()
    n = integer(data.get("n_examples", 100 if attacks else 0), join(path, "n_examples"), minimum=0)
    return WordImportanceConfig(attacks=attacks, n_examples=n)


def check_buildable(config: SweepConfig) -> None:
    """Build one TrainConfig per training variant and one AuditConfig, so that a value only the
    library checks (a learning rate of 0, grad_norm with grad_clip, ...) fails now, naming its field."""
    anonymous = len(config.blocks) == 1 and not config.blocks[0].name
    for i, block in enumerate(config.blocks):
        for method in block.methods:
            for train_temperature in block.train_temperatures:
                for grad_norm in block.grad_norm:
                    try:
                        if config.modality == "image":
                            ImageTrainConfig(dataset="<dataset>", preset=config.preset, **config.train_settings(block),
                                             method=method, temperature=train_temperature, grad_norm=grad_norm,
                                             seed=block.seeds[0])
                            continue
                        TrainConfig(model="<model>", dataset="<dataset>", preset=config.preset,
                                    **config.train_settings(block), method=method, temperature=train_temperature,
                                    grad_norm=grad_norm, seed=block.seeds[0],
                                    augment_from="<standard model>" if method == "dg-aug" else None)
                    except (ValueError, TypeError) as exc:
                        field_path = _train_field_path(config, block, "" if anonymous else f"grid[{i}]", str(exc))
                        raise SweepConfigError(field_path, str(exc)) from None
        synonyms = config.train_settings(block).get("ascc_synonyms", "wordnet")
        if "ascc" in block.methods and synonyms != "wordnet" and not Path(synonyms).expanduser().is_file():
            where = "train" if "ascc_synonyms" in config.train and "ascc_synonyms" not in block.train \
                else join("" if anonymous else f"grid[{i}]", "train")
            raise SweepConfigError(f"{where}.ascc_synonyms",
                                   f"must be 'wordnet' or an existing word-vector file, got {synonyms!r}")
    try:
        AuditConfig(serve_temperature=1.0, attacks=("deepwordbug",), **config.audit_settings)
        if config.modality == "image":
            from ior.attacks.image import ImageAttackConfig

            budgets = {k: v for k, v in config.attack_settings.items() if v is not None}
            ImageAttackConfig(**{"epsilon": 0.1, **{("batch_size" if k == "attack_batch_size" else k): v
                                                    for k, v in budgets.items()}})
    except (ValueError, TypeError) as exc:
        raise SweepConfigError("audit", str(exc)) from None


def _train_field_path(config: SweepConfig, block: GridBlock, block_path: str, message: str) -> str:
    """The config field behind a TrainConfig error (its messages start with the field's name)."""
    name = message.split()[0] if message else ""
    axis = {"temperature": "train_temperatures", "grad_norm": "grad_norm", "method": "methods"}.get(name)
    if axis:
        return join(block_path, axis)
    if name in block.train:
        return join(join(block_path, "train"), name)
    if name in config.train:
        return f"train.{name}"
    return join(block_path, "train")


def load_sweep_config(path) -> SweepConfig:
    """Read and validate a sweep config from a YAML file."""
    import yaml

    path = Path(os.fspath(path)).expanduser()
    if not path.is_file():
        raise SweepConfigError("", f"sweep config {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SweepConfigError("", f"{path.name} is not valid YAML: {' '.join(str(exc).split())}") from None
    try:
        return parse_sweep_config(data, source=str(path))
    except SweepConfigError as exc:
        raise SweepConfigError(exc.field, exc.problem, source=path.name) from None
