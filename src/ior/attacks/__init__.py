"""Adversarial attacks on text classifiers: TextAttack's DeepWordBug and PWWS, rebuilt.

An attack is a goal function (the one place logits become probabilities), a transformation,
constraints and a search method; :mod:`ior.attacks.recipes` assembles them per paper.
"""

from ior.attacks.attack import Attack
from ior.attacks.recipes import RECIPES, DeepWordBugGao2018, PWWSRen2019, build_attack, get_recipe
from ior.attacks.results import AttackResult, AttackSummary, Outcome, summarize
from ior.attacks.text import AttackedText, words_from_text

__all__ = [
    "RECIPES",
    "Attack",
    "AttackResult",
    "AttackSummary",
    "AttackedText",
    "DeepWordBugGao2018",
    "Outcome",
    "PWWSRen2019",
    "build_attack",
    "get_recipe",
    "summarize",
    "words_from_text",
]
