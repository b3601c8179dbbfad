"""Constraints: which perturbations an attack may make.

Pre-transformation constraints (:meth:`modifiable_indices`) pick the words that may change;
the others (:meth:`check`) accept or reject a finished candidate. Both can be called on their
own, so tests can re-check an attack's outputs independently of its search.
"""

from ior.attacks.constraints.overlap import Constraint, LevenshteinEditDistance, levenshtein
from ior.attacks.constraints.pre_transformation import (
    PreTransformationConstraint,
    RepeatModification,
    StopwordModification,
)

__all__ = [
    "Constraint",
    "LevenshteinEditDistance",
    "PreTransformationConstraint",
    "RepeatModification",
    "StopwordModification",
    "levenshtein",
]
