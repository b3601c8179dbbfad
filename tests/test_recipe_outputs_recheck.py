"""A few hundred outputs of each recipe, re-verified against the recipe's constraints.

Each recipe attacks 300 generated sentences (fake victim and small resources, so this stays fast);
every finished example is then checked by the independent checkers of the per-recipe test modules,
which re-derive the constraints without the search code: fresh constraint objects or hand-written
rules, and a fresh forward pass of the victim for every claimed success.
"""

from __future__ import annotations

import numpy as np
import pytest

from ior.attacks.recipes import BAEGarg2019, DeepWordBugGao2018, PWWSRen2019, TextFoolerJin2019
from ior.attacks.recipes.bae_garg_2019 import USE_BAE_THRESHOLD
from ior.attacks.results import Outcome
from ior.attacks.testing import BagOfWordsVictim, FakeWordNet
from ior.data.stopwords import ENGLISH_STOPWORDS
from ior.resources.embeddings import WordEmbedding

import test_attack_recipes as dwb_pwws
import test_bae_recipe as bae
import test_textfooler_recipe as tf

N = 300
FILLERS = ["the", "a", "and", "of", "story", "cast", "plot", "with", "it", "music", "was", "is", "too",
           "scene", "ending", "really", "an", "this", "for", "lead"]


def sentences(words, *, seed, lengths=(4, 22)):
    """``N`` distinct sentences mixing ``words`` (what the attack can change) with fillers."""
    rng = np.random.default_rng(seed)
    out = set()
    while len(out) < N:
        n = int(rng.integers(*lengths))
        pool = list(words) + FILLERS
        out.add(" ".join(str(pool[k]) for k in rng.integers(0, len(pool), size=n)))
    return sorted(out)


def attack_own_predictions(attack, victim, texts):
    """Label each text with the victim's prediction, so every example is attacked."""
    labels = [int(np.argmax(row)) for row in victim.logits(texts)]
    return attack.attack_dataset(texts, labels, progress=False)


def assert_enough(results, at_least):
    succeeded = [r for r in results if r.outcome is Outcome.SUCCEEDED]
    assert len(results) == N and len(succeeded) >= at_least, (len(succeeded), at_least)
    return succeeded


def assert_fools(victim, result):
    assert int(np.argmax(victim.logits([result.adversarial_text])[0])) != result.label


def test_deepwordbug_outputs():
    victim = BagOfWordsVictim(dwb_pwws.SENTIMENT)
    texts = sentences(dwb_pwws.SENTIMENT, seed=1)
    results = attack_own_predictions(DeepWordBugGao2018.build(victim, seed=0), victim, texts)
    for r in assert_enough(results, 150):
        dwb_pwws.check_deepwordbug_output(r, 30)
        assert_fools(victim, r)
    for r in results:  # a failed search returns the original text
        if r.outcome is not Outcome.SUCCEEDED:
            assert r.adversarial_text == r.original_text


def test_pwws_outputs():
    synonyms = {"good": [["good", "beneficial", "dear"]], "great": [["great", "big", "bully"]],
                "lovely": [["lovely", "endearing"]], "film": [["film", "movie", "flick"]],
                "awful": [["awful", "awesome", "amazing"]], "boring": [["boring", "drilling"]],
                "mess": [["mess", "muss", "fix"]], "dull": [["dull", "blunt", "sluggish"]],
                "the": [["the", "thee"]]}
    weights = {**dwb_pwws.SENTIMENT, "amazing": [0.0, 2.0], "flick": [1.0, 0.0], "fix": [0.0, 1.0],
               "thee": [5.0, 0.0]}
    victim = BagOfWordsVictim(weights)
    texts = sentences(list(synonyms), seed=2)
    results = attack_own_predictions(PWWSRen2019.build(victim, wordnet=FakeWordNet(synonyms)), victim, texts)
    for r in assert_enough(results, 100):
        for old, new in dwb_pwws.changed_words(r):
            assert old not in ENGLISH_STOPWORDS  # so "the" -> "thee" never happens
            assert new in {n for s in synonyms[old.lower()] for n in s} - {old}
        assert_fools(victim, r)


def test_textfooler_outputs():
    resources = {"embedding": WordEmbedding(list(tf._VECTORS), list(tf._VECTORS.values()), name="toy"),
                 "encoder": tf.HashEncoder(), "tagger": tf.LookupTagger(), "encoder_threshold": tf.THRESHOLD}
    victim = tf._victim()
    texts = sentences(["good", "great", "love", "film", "fine", "like"], seed=3)
    results = attack_own_predictions(TextFoolerJin2019.build(victim, **resources), victim, texts)
    succeeded = assert_enough(results, 100)
    assert sum(len(r.original_text.split()) >= 15 for r in succeeded) >= 20  # the windowed check ran
    for r in succeeded:
        assert tf._satisfies_textfooler(r.original_text, r.adversarial_text, resources["embedding"],
                                        resources["tagger"], resources["encoder"]), r
        assert_fools(victim, r)


@pytest.fixture(scope="module")
def tiny_mlm(tmp_path_factory):
    from ior.resources.mlm import load_masked_lm

    return load_masked_lm(bae.make_tiny_mlm(tmp_path_factory.mktemp("tiny-mlm")))


def test_bae_outputs(tiny_mlm):
    victim = BagOfWordsVictim(bae.WEIGHTS, bias=[3.5, 0.0])
    encoder, tagger = bae.HashEncoder(), bae.LookupTagger()
    attack = BAEGarg2019.build(victim, masked_lm=tiny_mlm, encoder=encoder, tagger=tagger,
                               encoder_threshold=USE_BAE_THRESHOLD)
    texts = sentences(["good", "great", "fine", "care", "film", "dog", "runs"], seed=4, lengths=(6, 19))
    results = attack_own_predictions(attack, victim, texts)
    succeeded = assert_enough(results, 100)
    assert sum(len(r.original_text.split()) >= 15 for r in succeeded) >= 20  # the windowed check ran
    bae.check_bae_outputs(succeeded, victim, encoder, tagger, tiny_mlm)
