"""Attack recipes, one file per paper, and a registry of their names."""

from __future__ import annotations

from ior.attacks.attack import Attack
from ior.attacks.recipes.bae_garg_2019 import BAEGarg2019
from ior.attacks.recipes.deepwordbug_gao_2018 import DeepWordBugGao2018
from ior.attacks.recipes.pwws_ren_2019 import PWWSRen2019
from ior.attacks.recipes.textfooler_jin_2019 import TextFoolerJin2019

#: Name (and alias) -> recipe class with ``build(model, *, wordnet, seed, score)`` and
#: ``hyperparameters()``.
RECIPES = {
    "bae": BAEGarg2019,
    "deepwordbug": DeepWordBugGao2018,
    "dg": DeepWordBugGao2018,
    "pwws": PWWSRen2019,
    "textfooler": TextFoolerJin2019,
    "tf": TextFoolerJin2019,
}


def get_recipe(name: str):
    """The recipe class registered under ``name``."""
    try:
        return RECIPES[name]
    except (KeyError, TypeError):
        raise ValueError(f"recipe must be one of {sorted(RECIPES)}, got {name!r}") from None


def build_attack(name: str, model, **kwargs) -> Attack:
    """``get_recipe(name).build(model, **kwargs)``."""
    return get_recipe(name).build(model, **kwargs)


__all__ = [
    "RECIPES",
    "BAEGarg2019",
    "DeepWordBugGao2018",
    "PWWSRen2019",
    "TextFoolerJin2019",
    "build_attack",
    "get_recipe",
]
