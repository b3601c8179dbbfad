"""Offline resources for word-level attacks: counter-fitted word vectors, a sentence encoder and
part-of-speech taggers, standing in for the downloads TextAttack's TextFooler and BAE use.

Nothing heavy happens on import: vectors are built by :func:`prepare_counterfitted` (part of
resource preparation) and models load on first use. Threshold carry-over from USE lives in
:mod:`ior.resources.encoder_calibration`.
"""

from ior.resources.counterfitted import (
    load_counterfitted,
    load_word_embedding,
    prepare_counterfitted,
)
from ior.resources.embeddings import WordEmbedding
from ior.resources.pos import PerceptronTagger, WordNetPOSTagger, default_tagger
from ior.resources.sentence_encoder import MeanPoolingEncoder

__all__ = [
    "MeanPoolingEncoder",
    "PerceptronTagger",
    "WordEmbedding",
    "WordNetPOSTagger",
    "default_tagger",
    "load_counterfitted",
    "load_word_embedding",
    "prepare_counterfitted",
]
