"""DeepWordBug.

J. Gao, J. Lanchantin, M. L. Soffa, Y. Qi, "Black-box Generation of Adversarial Text Sequences
to Evade Deep Learning Classifiers", IEEE S&P Workshops 2018, https://arxiv.org/abs/1801.04354

Assembled as TextAttack 0.3.11's ``DeepWordBugGao2018.build``: a composite of four random
character edits (neighbouring swap, substitution, deletion, insertion; one random candidate each
per word), RepeatModification, StopwordModification, Levenshtein distance <= 30 to the original
text, untargeted classification, greedy search ranked by "[UNK]" replacement.

Departures from the TextAttack recipe:

* Randomness comes from ``numpy.random.default_rng([seed, example_index])``, not from the
  global ``random``/``numpy.random`` state, so a run is reproducible and independent of the
  order of examples (TextAttack's draws cannot be reproduced bit for bit here).
* Success is ``argmax(logits) != label`` (TextAttack: argmax of float32 probabilities, which
  picks class 0 when the probabilities tie); the victim's logits are always softmaxed.
* Queries count distinct texts; TextAttack also counts cache hits (``count_repeats``).
* Equally important words are visited in ascending position (TextAttack: unstable argsort).
* The stopword list is NLTK's classic 179 English words, frozen in ``ior.data.stopwords``.
* ``score="margin"`` is an addition (default ``"probability"`` is TextAttack's).
* Text with CJK characters is not segmented with jieba.
"""

from __future__ import annotations

from ior.attacks.attack import Attack
from ior.attacks.constraints import (
    LevenshteinEditDistance,
    RepeatModification,
    StopwordModification,
)
from ior.attacks.goal_functions import UntargetedClassification
from ior.attacks.search import GreedyWordSwapWIR
from ior.attacks.transformations import (
    CompositeTransformation,
    WordSwapNeighboringCharacterSwap,
    WordSwapRandomCharacterDeletion,
    WordSwapRandomCharacterInsertion,
    WordSwapRandomCharacterSubstitution,
)

MAX_EDIT_DISTANCE = 30
TEXTATTACK_RECIPE = "textattack 0.3.11 attack_recipes/deepwordbug_gao_2018.py"


class DeepWordBugGao2018:
    """DeepWordBug (Gao et al., 2018). Use :meth:`build`."""

    name = "deepwordbug"

    @staticmethod
    def _parts(use_all_transformations: bool):
        if use_all_transformations:
            transformation = CompositeTransformation(
                [
                    WordSwapNeighboringCharacterSwap(),
                    WordSwapRandomCharacterSubstitution(),
                    WordSwapRandomCharacterDeletion(),
                    WordSwapRandomCharacterInsertion(),
                ]
            )
        else:
            transformation = WordSwapRandomCharacterSubstitution()
        constraints = [
            RepeatModification(),
            StopwordModification(),
            LevenshteinEditDistance(MAX_EDIT_DISTANCE, compare_against_original=True),
        ]
        return transformation, constraints, GreedyWordSwapWIR("unk", unk_token="[UNK]")

    @classmethod
    def build(
        cls,
        model,
        *,
        wordnet=None,
        seed: int = 0,
        score: str = "probability",
        use_all_transformations: bool = True,
    ) -> Attack:
        """Build DeepWordBug against ``model`` (``wordnet`` is accepted and unused, so all
        recipes share one signature)."""
        transformation, constraints, search = cls._parts(use_all_transformations)
        goal = UntargetedClassification(model, score=score)
        return Attack(goal, transformation, constraints, search, seed=seed)

    @classmethod
    def hyperparameters(
        cls, *, seed: int = 0, score: str = "probability", use_all_transformations: bool = True
    ) -> dict:
        """Every setting of the recipe, for report provenance."""
        transformation, constraints, search = cls._parts(use_all_transformations)
        return {
            "recipe": cls.name,
            "paper": "Gao et al. 2018, arXiv:1801.04354",
            "reference": TEXTATTACK_RECIPE,
            "use_all_transformations": use_all_transformations,
            "goal_function": {
                "name": "untargeted_classification",
                "score": score,
                "query_budget": None,
                "success": "argmax(logits) != label",
            },
            "transformation": transformation.config(),
            "constraints": [c.config() for c in constraints],
            "search": search.config(),
            "seed": seed,
            "rng": "numpy.random.default_rng([seed, example_index])",
        }
