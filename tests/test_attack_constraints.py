"""Each constraint rejects a hand-made violation and keeps a valid candidate."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ior.attacks.constraints import (
    LevenshteinEditDistance,
    RepeatModification,
    StopwordModification,
    levenshtein,
)
from ior.attacks.text import AttackedText


def naive_levenshtein(a, b):
    rows = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            rows[i][j] = min(rows[i - 1][j] + 1, rows[i][j - 1] + 1,
                             rows[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
    return rows[-1][-1]


def test_repeat_modification_blocks_modified_words():
    original = AttackedText("a truly bad film")
    once = original.replace_word_at_index(2, "bda")
    constraint = RepeatModification()
    assert constraint.modifiable_indices(original) == {0, 1, 2, 3}
    assert constraint.modifiable_indices(once) == {0, 1, 3}


def test_stopword_modification_default_list_is_case_sensitive():
    text = AttackedText("The film is not good")
    constraint = StopwordModification()
    # "The" is capitalised, so it is not in NLTK's lower-case list (as in TextAttack)
    assert constraint.modifiable_indices(text) == {0, 1, 4}
    assert StopwordModification(["film"]).modifiable_indices(text) == {0, 2, 3, 4}


def test_stopword_modification_check():
    original = AttackedText("The film is not good")
    constraint = StopwordModification()
    assert constraint.check(original.replace_word_at_index(4, "godo"), original)
    assert not constraint.check(original.replace_word_at_index(3, "nto"), original)
    with pytest.raises(ValueError, match="word swaps"):
        constraint.check(original.delete_word_at_index(1), original)
    with pytest.raises(TypeError, match="single str"):
        StopwordModification("the")


def test_levenshtein_constraint_compares_with_reference():
    original = AttackedText("an excellent film")
    near = original.replace_word_at_index(1, "excelent")  # 1 edit
    far = original.replace_word_at_index(1, "xcllnt")  # 3 deletions
    constraint = LevenshteinEditDistance(2)
    assert constraint.compare_against_original is True
    assert constraint.check(near, original)
    assert not constraint.check(far, original)
    assert LevenshteinEditDistance(3).check(far, original)


def test_levenshtein_constraint_rejects_bad_parameters():
    with pytest.raises(TypeError, match="max_edit_distance must be an int, got float"):
        LevenshteinEditDistance(30.0)
    with pytest.raises(ValueError, match="max_edit_distance must be >= 0, got -1"):
        LevenshteinEditDistance(-1)


def test_levenshtein_known_values():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3
    assert levenshtein("abc", "abc") == 0
    assert levenshtein("ab", "ba") == 2  # a neighbouring swap costs two edits
    assert levenshtein("kitten", "sitting", max_distance=2) == 3
    assert levenshtein("kitten", "sitting", max_distance=1) == 2


@settings(max_examples=300, deadline=None)
@given(st.text("abc ", max_size=12), st.text("abc ", max_size=12), st.integers(0, 8))
def test_levenshtein_matches_naive(a, b, k):
    exact = naive_levenshtein(a, b)
    assert levenshtein(a, b) == exact
    assert levenshtein(a, b, max_distance=k) == min(exact, k + 1)
