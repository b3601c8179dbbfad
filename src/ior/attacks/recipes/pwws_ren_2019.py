"""PWWS: probability weighted word saliency.

S. Ren, Y. Deng, K. He, W. Che, "Generating Natural Language Adversarial Examples through
Probability Weighted Word Saliency", ACL 2019, https://aclanthology.org/P19-1103/

Assembled as TextAttack 0.3.11's ``PWWSRen2019.build``: WordNet synonym swaps,
RepeatModification, StopwordModification, untargeted classification, greedy search ranked by
"weighted-saliency". Like TextAttack, it leaves out the paper's named-entity swaps.

Departures from the TextAttack recipe:

* WordNet is passed in (an NLTK ``WordNetCorpusReader``); TextAttack loads
  ``nltk.corpus.wordnet`` and downloads ``omw-1.4`` itself. Without ``wordnet=`` we use
  ``ior.data.wordnet.load_wordnet()``.
* Success is ``argmax(logits) != label`` (TextAttack: argmax of float32 probabilities); the
  victim's logits are always softmaxed.
* Queries count distinct texts; TextAttack also counts cache hits (``count_repeats``).
* Equally important words are visited in ascending position (TextAttack: unstable argsort).
* The stopword list is NLTK's classic 179 English words, frozen in ``ior.data.stopwords``.
* ``score="margin"`` is an addition (default ``"probability"`` is TextAttack's).
"""

from __future__ import annotations

from ior.attacks.attack import Attack
from ior.attacks.constraints import RepeatModification, StopwordModification
from ior.attacks.goal_functions import UntargetedClassification
from ior.attacks.search import GreedyWordSwapWIR
from ior.attacks.transformations import WordSwapWordNet

TEXTATTACK_RECIPE = "textattack 0.3.11 attack_recipes/pwws_ren_2019.py"


def _default_wordnet():
    try:
        from ior.data.wordnet import load_wordnet
    except ImportError as error:
        raise ValueError(
            "pwws needs WordNet: pass wordnet=<nltk WordNetCorpusReader> "
            f"(ior.data.wordnet.load_wordnet is unavailable: {error})"
        ) from error
    return load_wordnet()


class PWWSRen2019:
    """PWWS (Ren et al., 2019). Use :meth:`build`."""

    name = "pwws"

    @staticmethod
    def _constraints():
        return [RepeatModification(), StopwordModification()]

    @classmethod
    def build(
        cls, model, *, wordnet=None, seed: int = 0, score: str = "probability"
    ) -> Attack:
        """Build PWWS against ``model``; ``seed`` is recorded (PWWS draws no random numbers)."""
        transformation = WordSwapWordNet(_default_wordnet() if wordnet is None else wordnet)
        goal = UntargetedClassification(model, score=score)
        search = GreedyWordSwapWIR("weighted-saliency", unk_token="[UNK]")
        return Attack(goal, transformation, cls._constraints(), search, seed=seed)

    @classmethod
    def hyperparameters(cls, *, seed: int = 0, score: str = "probability") -> dict:
        """Every setting of the recipe, for report provenance."""
        return {
            "recipe": cls.name,
            "paper": "Ren et al. 2019, ACL, P19-1103",
            "reference": TEXTATTACK_RECIPE,
            "goal_function": {
                "name": "untargeted_classification",
                "score": score,
                "query_budget": None,
                "success": "argmax(logits) != label",
            },
            "transformation": {
                "name": "WordSwapWordNet",
                "language": "eng",
                "candidates": "lemma names of all synsets, minus the word, '_' and multi-word",
            },
            "constraints": [c.config() for c in cls._constraints()],
            "search": GreedyWordSwapWIR("weighted-saliency", unk_token="[UNK]").config(),
            "seed": seed,
        }
