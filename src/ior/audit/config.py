"""Audit configuration: validated once, recorded in every report."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ior.models.temperature import check_temperature


#: ``opt``'s objective Q(T) per modality: DeepWordBug as in the paper's Appendix G for text; for
#: images PGD on the cross-entropy, the attack a temperature can fool.
DEFAULT_OPT_ATTACKS = {"text": "deepwordbug", "image": "pgd"}
#: Every piercing an audit can run, in the order reports show them.
PIERCINGS = ("cal", "opt", "platt", "transfer")


@dataclass(frozen=True)
class AuditConfig:
    """What an audit measures and how much data it spends.

    Parameters
    ----------
    serve_temperature : float
        T_d, the temperature the model is served at (logits / T_d).
    attacks : tuple of str
        Attack names, resolved by the attack suite.
    n_examples : int or None
        Test examples attacked (None = all).
    n_calibration : int or None
        Validation examples used to fit ``cal`` (None = all).
    n_opt : int
        Validation examples attacked for every evaluation of Q(T) in ``opt``.
    opt_attack : str or None
        The attack that measures Q(T); None takes the attack suite's ``default_opt_attack``
        (DeepWordBug for text, as in the paper; PGD on the cross-entropy for images).
    opt_maxiter : int
        Brent iterations for ``opt``.
    opt_stop : {"plateau", "maxiter"}
        ``plateau`` (default) ends ``opt`` early on a flat minimum of Q(T) or at Q = 0
        (:mod:`ior.calibration.adversarial_temperature`); ``maxiter`` runs the paper's search to the end.
    piercings : tuple of str
        Which piercings to run, among :data:`PIERCINGS`: "cal" (NLL temperature), "opt" (the
        temperature minimising adversarial accuracy), "platt" (matrix scaling fitted by NLL) and
        "transfer" (examples crafted on a reference model; the auditor needs one).
    platt_kind : {"matrix", "vector"}
        The affine map ``platt`` fits (:mod:`ior.calibration.platt`).
    gap_threshold : float
        An IOR gap above this many accuracy points, with a 95% interval excluding 0, is an illusion.
    zeta_threshold : float
        Confidence variance (Eq. 5) below this is flagged.
    n_bins : int
        Equal-width bins for ECE/MCE.
    n_bootstrap : int
        Paired bootstrap resamples for the gap's interval.
    seed : int
        Seeds attack randomness, subset choice and the bootstrap.
    allow_probabilities : bool
        Accept a model whose outputs already sum to 1 (flagged instead of refused).
    """

    serve_temperature: float = 1.0
    attacks: tuple[str, ...] = ("deepwordbug", "pwws")
    n_examples: int | None = 200
    n_calibration: int | None = None
    n_opt: int = 100
    opt_attack: str | None = None
    opt_maxiter: int = 10
    opt_stop: str = "plateau"
    piercings: tuple[str, ...] = ("cal", "opt")
    platt_kind: str = "matrix"
    gap_threshold: float = 3.0
    zeta_threshold: float = 1e-4
    cal_far_factor: float = 10.0
    n_bins: int = 15
    n_bootstrap: int = 10_000
    seed: int = 0
    allow_probabilities: bool = False

    def __post_init__(self):
        check_temperature(self.serve_temperature, name="serve_temperature")
        object.__setattr__(self, "attacks", tuple(self.attacks))
        object.__setattr__(self, "piercings", tuple(self.piercings))
        if not self.attacks:
            raise ValueError("attacks must name at least one attack")
        if self.opt_stop not in ("plateau", "maxiter"):
            raise ValueError(f"opt_stop must be 'plateau' or 'maxiter', got {self.opt_stop!r}")
        unknown = sorted(set(self.piercings) - set(PIERCINGS))
        if unknown:
            raise ValueError(f"piercings must be among {list(PIERCINGS)}, got {unknown}")
        if self.platt_kind not in ("matrix", "vector"):
            raise ValueError(f"platt_kind must be 'matrix' or 'vector', got {self.platt_kind!r}")
        for name in ("n_examples", "n_calibration"):
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {value!r}")
        for name in ("n_opt", "opt_maxiter", "n_bins", "n_bootstrap"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("gap_threshold", "zeta_threshold"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
        if not self.cal_far_factor > 1:
            raise ValueError(f"cal_far_factor must be > 1, got {self.cal_far_factor!r}")

    def to_dict(self) -> dict:
        return asdict(self)
