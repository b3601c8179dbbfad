"""Character edits and WordNet swaps: exactly the intended edit, in the intended range."""

import string

import numpy as np
import pytest

from ior.attacks.testing import FakeWordNet
from ior.attacks.text import AttackedText
from ior.attacks.transformations import (
    CompositeTransformation,
    WordSwapNeighboringCharacterSwap,
    WordSwapRandomCharacterDeletion,
    WordSwapRandomCharacterInsertion,
    WordSwapRandomCharacterSubstitution,
    WordSwapWordNet,
)

WORD = "abcdef"
SEEDS = range(300)


def rng(seed=0):
    return np.random.default_rng(seed)


def swapped_at(word, new):
    """Positions i where new == word with word[i], word[i+1] swapped."""
    return [
        i for i in range(len(word) - 1)
        if new == word[:i] + word[i + 1] + word[i] + word[i + 2:]
    ]


def deleted_at(word, new):
    return [i for i in range(len(word)) if new == word[:i] + word[i + 1:]]


def inserted_at(word, new):
    return [
        i for i in range(len(word) + 1)
        if len(new) == len(word) + 1 and new[:i] + new[i + 1:] == word
        and new[i] in string.ascii_letters
    ]


@pytest.mark.parametrize(
    ("skip_first", "skip_last", "allowed"),
    [(False, False, {0, 1, 2, 3, 4}), (True, False, {1, 2, 3, 4}), (False, True, {0, 1, 2, 3})],
)
def test_neighboring_swap(skip_first, skip_last, allowed):
    edit = WordSwapNeighboringCharacterSwap(skip_first_char=skip_first, skip_last_char=skip_last)
    seen = set()
    for seed in SEEDS:
        (new,) = edit.replacement_words(WORD, rng(seed))
        (i,) = swapped_at(WORD, new)
        seen.add(i)
    assert seen == allowed


def test_substitution_changes_one_character_to_a_letter():
    edit = WordSwapRandomCharacterSubstitution()
    seen = set()
    for seed in SEEDS:
        (new,) = edit.replacement_words(WORD, rng(seed))
        diff = [i for i in range(len(WORD)) if new[i] != WORD[i]]
        assert len(new) == len(WORD) and len(diff) <= 1
        if diff:
            assert new[diff[0]] in string.ascii_letters
            seen.add(diff[0])
    assert seen == set(range(len(WORD)))


@pytest.mark.parametrize(
    ("skip_first", "skip_last", "allowed"),
    [(False, False, set(range(6))), (True, False, set(range(1, 6))),
     (False, True, set(range(5)))],
)
def test_deletion(skip_first, skip_last, allowed):
    edit = WordSwapRandomCharacterDeletion(skip_first_char=skip_first, skip_last_char=skip_last)
    seen = set()
    for seed in SEEDS:
        (new,) = edit.replacement_words(WORD, rng(seed))
        (i,) = deleted_at(WORD, new)  # letters are distinct, so the position is unique
        seen.add(i)
    assert seen == allowed


@pytest.mark.parametrize(
    ("skip_first", "skip_last", "allowed"),
    # TextAttack never inserts after the last character
    [(False, False, set(range(6))), (True, False, set(range(1, 6))),
     (False, True, set(range(5)))],
)
def test_insertion(skip_first, skip_last, allowed):
    edit = WordSwapRandomCharacterInsertion(skip_first_char=skip_first, skip_last_char=skip_last)
    seen = set()
    word = "xxxxxx"
    for seed in SEEDS:
        (new,) = edit.replacement_words(word, rng(seed))
        positions = inserted_at(word, new)
        assert positions
        if new[positions[0]] != "x":
            (i,) = [p for p in positions if new[p] != "x"]
            seen.add(i)
    assert seen == allowed


EDITS = [
    WordSwapNeighboringCharacterSwap,
    WordSwapRandomCharacterSubstitution,
    WordSwapRandomCharacterDeletion,
    WordSwapRandomCharacterInsertion,
]


@pytest.mark.parametrize("edit_cls", EDITS)
def test_one_character_words_get_no_candidate(edit_cls):
    edit = edit_cls()
    assert edit.replacement_words("a", rng()) == []
    assert edit.replacement_words("", rng()) == []
    assert edit_cls(random_one=False).replacement_words("a", rng()) == []


@pytest.mark.parametrize("edit_cls", EDITS)
def test_same_seed_same_candidates(edit_cls):
    text = AttackedText("A wonderfully strange, tender film about grief.")
    indices = range(text.num_words)
    first = [c.text for c in edit_cls()(text, indices, rng(7))]
    again = [c.text for c in edit_cls()(text, indices, rng(7))]
    assert first == again
    assert len(first) <= text.num_words  # at most one candidate per word
    assert edit_cls().deterministic is False


def test_random_one_false_lists_every_position():
    edit = WordSwapRandomCharacterDeletion(random_one=False)
    assert edit.replacement_words("abc", rng()) == ["bc", "ac", "ab"]
    assert WordSwapNeighboringCharacterSwap(random_one=False).replacement_words("abc", rng()) == [
        "bac", "acb"]
    assert edit.deterministic is True


def test_identical_candidates_are_dropped():
    text = AttackedText("book")
    # swapping the two o's gives the word back: no candidate
    swap = WordSwapNeighboringCharacterSwap(random_one=False)
    assert [c.text for c in swap(text, [0], rng())] == ["obok", "boko"]


def test_composite_pools_candidates_without_duplicates():
    text = AttackedText("abba")
    composite = CompositeTransformation([
        WordSwapRandomCharacterDeletion(random_one=False),
        WordSwapNeighboringCharacterSwap(random_one=False),
    ])
    texts = [c.text for c in composite(text, [0], rng())]
    assert texts == ["bba", "aba", "abb", "baba", "abab"]
    assert all(c.modified_indices == {0} for c in composite(text, [0], rng()))


def test_composite_rejects_bad_members():
    with pytest.raises(ValueError, match="must not be empty"):
        CompositeTransformation([])
    with pytest.raises(TypeError, match="Transformation objects"):
        CompositeTransformation(["swap"])


def test_wordnet_swap_candidates():
    wordnet = FakeWordNet({
        "good": [["good", "Good", "well", "full_of_life", "U.S.", "near-perfect"],
                 ["good", "beneficial"]],
    })
    swap = WordSwapWordNet(wordnet)
    # minus the word itself, '_' phrases and names that are not one word; sorted
    assert swap.replacement_words("good") == ["Good", "beneficial", "near-perfect", "well"]
    # the comparison with the word is case-sensitive, as in TextAttack
    assert swap.replacement_words("Good") == ["beneficial", "good", "near-perfect", "well"]
    text = AttackedText("A good film.")
    assert [c.text for c in swap(text, [0, 1, 2], rng())] == [
        "A Good film.", "A beneficial film.", "A near-perfect film.", "A well film."]
    with pytest.raises(TypeError, match="synsets"):
        WordSwapWordNet(object())
