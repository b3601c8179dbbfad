"""TextFooler end to end on the fake victim with tiny synthetic resources, and an independent
re-check that every adversarial text satisfies the recipe's constraints."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from ior.attacks.constraints.semantics import SentenceEncoderSimilarity
from ior.attacks.recipes import RECIPES, TextFoolerJin2019, get_recipe
from ior.attacks.recipes import textfooler_jin_2019 as tf_module
from ior.attacks.results import Outcome
from ior.attacks.suite import ALIASES, TextAttackSuite, canonical_attack
from ior.attacks.testing import BagOfWordsVictim
from ior.attacks.text import words_from_text
from ior.data.stopwords import TEXTFOOLER_STOPWORDS
from ior.resources.embeddings import WordEmbedding

THRESHOLD = 0.925

# Three clusters (adjectives, nouns, verbs) plus words placed to violate one constraint each:
# "bad" is far from "good" (cosine < 0.5), "nicely" is close but an adverb.
_VECTORS = {
    "good": [1.0, 0.05, 0.0, 0.0], "great": [0.95, 0.1, 0.05, 0.1], "fine": [0.9, 0.0, 0.1, 0.3],
    "decent": [0.85, 0.1, 0.0, 0.4], "nicely": [0.97, 0.05, 0.0, 0.15],
    "bad": [-0.8, 0.3, 0.0, 0.1],
    "film": [0.0, 1.0, 0.0, 0.0], "movie": [0.05, 0.95, 0.1, 0.0], "picture": [0.1, 0.9, 0.0, 0.3],
    "love": [0.0, 0.1, 1.0, 0.0], "like": [0.1, 0.0, 0.95, 0.2], "enjoy": [0.0, 0.2, 0.9, 0.3],
}
_TAGS = {"good": "ADJ", "great": "ADJ", "fine": "ADJ", "decent": "ADJ", "bad": "ADJ",
         "nicely": "ADV", "film": "NOUN", "movie": "NOUN", "picture": "NOUN",
         "love": "VERB", "like": "VERB", "enjoy": "VERB", "the": "DET", "a": "DET", "i": "PRON"}


class LookupTagger:
    def tag(self, words):
        return [_TAGS.get(w.lower(), "NOUN") for w in words]


class HashEncoder:
    """Each word adds a fixed pseudo-random vector; a text is the sum."""

    def encode(self, texts):
        out = []
        for text in texts:
            total = np.zeros(24)
            for w in text.lower().split():
                seed = sum(ord(c) * 131 ** k for k, c in enumerate(w)) % (2**32)
                total += np.random.default_rng(seed).normal(size=24)
            out.append(total)
        return np.asarray(out, dtype=np.float32)


def _victim():
    # Positive class 1 leans on "good"/"great"/"love"; their neighbours carry less weight.
    weights = {"good": [0.0, 1.0], "great": [0.0, 0.9], "love": [0.0, 0.8], "film": [0.0, 0.2],
               "fine": [0.0, 0.1], "decent": [0.1, 0.0], "like": [0.0, 0.1], "enjoy": [0.2, 0.0],
               "bad": [3.0, 0.0], "nicely": [3.0, 0.0], "movie": [0.1, 0.0]}
    return BagOfWordsVictim(weights, bias=[1.2, 0.0])


TEXTS = [
    "I love this good film",  # short: the sentence encoder is skipped
    "a good film",
    "I love the great film and the good picture , with the lead and the music and the sets "
    "and the light",
    "honestly the story was good and the film was great and I love how the ending of the plot "
    "works out",
    "good",
]


@pytest.fixture()
def resources():
    emb = WordEmbedding(list(_VECTORS), list(_VECTORS.values()), name="toy")
    return {"embedding": emb, "encoder": HashEncoder(), "tagger": LookupTagger(),
            "encoder_threshold": THRESHOLD}


def _window(words, index, size=15):
    """TextAttack's word window, re-derived here by word indices."""
    half = (size - 1) / 2
    if index - half < 0:
        return 0, min(size - 1, len(words) - 1)
    if index + half >= len(words):
        return max(0, len(words) - size), len(words) - 1
    return index - math.ceil(half), index + math.floor(half)


def _angular(a, b):
    cos = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    return 1 - math.acos(max(-1.0, min(1.0, cos))) / math.pi


def _satisfies_textfooler(original: str, adversarial: str, emb, tagger, encoder) -> bool:
    """Independent re-check of every TextFooler constraint on a finished adversarial text."""
    ow, aw = words_from_text(original), words_from_text(adversarial)
    if len(ow) != len(aw):
        return False
    changed = [i for i, (a, b) in enumerate(zip(ow, aw)) if a != b]
    if not changed:
        return False
    unit = emb.vectors / np.linalg.norm(emb.vectors, axis=1, keepdims=True)
    for i in changed:
        old, new = ow[i], aw[i]
        if old in TEXTFOOLER_STOPWORDS or old.lower() not in emb or new.lower() not in emb:
            return False
        a, b = emb.word2index(old.lower()), emb.word2index(new.lower())
        sims = unit @ unit[a]
        rank = int((sims > sims[b]).sum()) - 1  # neighbours strictly closer, minus the word
        if rank >= 50 or float(unit[a] @ unit[b]) < 0.5:
            return False
        before, after = ow[max(i - 4, 0) : i], ow[i + 1 : i + 4]
        ctx_old, ctx_new = [*before, old, *after], [*before, new, *after]
        p_old = tagger.tag(ctx_old)[ctx_old.index(old)]
        p_new = tagger.tag(ctx_new)[ctx_new.index(new)]
        if p_old != p_new and {p_old, p_new} != {"NOUN", "VERB"}:
            return False
    if len(aw) < 15:
        return True  # the sentence constraint skips texts shorter than its window
    # Some order of applying the swaps must pass the windowed check against the previous text.
    for order in itertools.permutations(changed):
        current, ok = list(ow), True
        for i in order:
            nxt = list(current)
            nxt[i] = aw[i]
            s, e = _window(current, i)
            ref, cand = encoder.encode([" ".join(current[s : e + 1]), " ".join(nxt[s : e + 1])])
            if _angular(ref, cand) < THRESHOLD:
                ok = False
                break
            current = nxt
        if ok:
            return True
    return False


def test_textfooler_attacks_fake_victim_and_outputs_satisfy_constraints(resources):
    attack = TextFoolerJin2019.build(_victim(), **resources)
    results = attack.attack_dataset(TEXTS, [1] * len(TEXTS), progress=False)
    outcomes = [r.outcome for r in results]
    assert outcomes.count(Outcome.SUCCEEDED) >= 2
    for r in results:
        if r.outcome is Outcome.SUCCEEDED:
            assert _satisfies_textfooler(r.original_text, r.adversarial_text, resources["embedding"],
                                         resources["tagger"], resources["encoder"]), r
            assert "bad" not in r.adversarial_text.lower()  # cosine < 0.5
            assert "nicely" not in r.adversarial_text.lower()  # adverb for adjective
    # The long texts were really checked by the sentence encoder, and it rejected something.
    sentence = next(c for c in attack.constraints if isinstance(c, SentenceEncoderSimilarity))
    scores = list(sentence.last_scores.values())
    assert any(s < 1.0 for s in scores) and any(s < THRESHOLD for s in scores)


def test_sentence_constraint_changes_the_chosen_swap(resources):
    # Without the sentence constraint the victim's best swap is "decent" (it pushes towards the
    # negative class); at THRESHOLD the encoder rejects it in the long text and "fine" is used.
    text, label = TEXTS[3], 1
    loose = TextFoolerJin2019.build(_victim(), **{**resources, "encoder_threshold": 0.0})
    strict = TextFoolerJin2019.build(_victim(), **resources)
    assert "decent" in loose.attack(text, label).adversarial_text
    result = strict.attack(text, label)
    assert result.outcome is Outcome.SUCCEEDED and "decent" not in result.adversarial_text


def test_recheck_catches_violations(resources):
    emb, tagger, enc = resources["embedding"], resources["tagger"], resources["encoder"]
    assert _satisfies_textfooler("a good film", "a great film", emb, tagger, enc)
    assert not _satisfies_textfooler("a good film", "a bad film", emb, tagger, enc)
    assert not _satisfies_textfooler("a good film", "a nicely film", emb, tagger, enc)
    assert not _satisfies_textfooler("the good film", "a good film", emb, tagger, enc)  # stopword


def test_recipe_settings_match_textattack(resources):
    attack = TextFoolerJin2019.build(_victim(), **resources)
    config = attack.config()
    assert config["transformation"]["max_candidates"] == 50
    names = [c["name"] for c in config["constraints"]]
    assert names == ["RepeatModification", "StopwordModification", "WordEmbeddingDistance",
                     "PartOfSpeech", "SentenceEncoderSimilarity"]
    wed, pos_, sentence = config["constraints"][2:]
    assert wed["min_cos_sim"] == 0.5 and pos_["allow_verb_noun_swap"] is True
    assert sentence == {**sentence, "metric": "angular", "compare_against_original": False,
                        "window_size": 15, "skip_text_shorter_than_window": True,
                        "threshold": THRESHOLD}
    assert config["search"]["wir_method"] == "delete"
    assert set(config["constraints"][1]["stopwords"]) == TEXTFOOLER_STOPWORDS
    hp = TextFoolerJin2019.hyperparameters()
    assert hp["constraints"][-1]["use_threshold"] == pytest.approx(0.840845057)


def test_default_threshold_is_uses_for_foreign_encoders(resources):
    resources.pop("encoder_threshold")
    attack = TextFoolerJin2019.build(_victim(), **resources)
    sentence = attack.constraints[-1]
    assert sentence.threshold == pytest.approx(0.840845057)


def test_registry_and_aliases():
    assert RECIPES["textfooler"] is TextFoolerJin2019 and get_recipe("tf") is TextFoolerJin2019
    assert ALIASES["tf"] == "textfooler" and canonical_attack("TF") == "textfooler"


def test_suite_loads_textfooler_resources_once(resources, monkeypatch):
    calls = []

    def fake_default_resources(**given):
        if any(given[k] is None for k in ("embedding", "encoder", "tagger")):
            calls.append(given)  # a real load would happen here
        return resources["embedding"], resources["encoder"], resources["tagger"]

    monkeypatch.setattr(tf_module, "default_resources", fake_default_resources)
    suite = TextAttackSuite(progress=False)
    first = suite.build("tf", _victim())
    second = suite.build("textfooler", _victim())
    assert len(calls) == 1
    assert first.transformation.embedding is second.transformation.embedding is resources["embedding"]
    results = suite.run("tf", _victim(), TEXTS[:2], [1, 1])
    assert len(results) == 2 and len(calls) == 1
