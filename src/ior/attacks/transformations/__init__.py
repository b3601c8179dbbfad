"""Transformations: how an attack perturbs a word."""

from ior.attacks.transformations.base import Transformation, WordSwap
from ior.attacks.transformations.character import (
    WordSwapNeighboringCharacterSwap,
    WordSwapRandomCharacterDeletion,
    WordSwapRandomCharacterInsertion,
    WordSwapRandomCharacterSubstitution,
)
from ior.attacks.transformations.composite import CompositeTransformation
from ior.attacks.transformations.wordnet import WordSwapWordNet

__all__ = [
    "CompositeTransformation",
    "Transformation",
    "WordSwap",
    "WordSwapNeighboringCharacterSwap",
    "WordSwapRandomCharacterDeletion",
    "WordSwapRandomCharacterInsertion",
    "WordSwapRandomCharacterSubstitution",
    "WordSwapWordNet",
]
