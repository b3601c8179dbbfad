"""Word splitting and replacement with TextAttack 0.3.11 semantics."""

import pytest

from ior.attacks.text import AttackedText, words_from_text
from ior.data.stopwords import ENGLISH_STOPWORDS


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "A person walks up stairs into a room and sees beer poured from a keg.",
            ["A", "person", "walks", "up", "stairs", "into", "a", "room", "and", "sees",
             "beer", "poured", "from", "a", "keg"],
        ),
        # internal apostrophes and hyphens stay, quote marks around a word go
        ("It's a run-of-the-mill kind of farmer's tan.", ["It's", "a", "run-of-the-mill",
                                                          "kind", "of", "farmer's", "tan"]),
        ("AAA BBB 'CCC'", ["AAA", "BBB", "CCC"]),
        # '-_*@ are stripped from both ends, kept inside
        ("--x-- *a* @b_ e-mail", ["x", "a", "b", "e-mail"]),
        # other punctuation splits words, even inside a whitespace token
        ("x@y.com (2002)...really?!", ["x@y", "com", "2002", "really"]),
        ("pokémon 4ever", ["pokémon", "4ever"]),
        # the three homoglyph symbols that \w does not cover are word characters
        ("`hi` 2×3", ["`hi`", "2×3"]),
        ("", []),
        ("  ...  !! ", []),
    ],
)
def test_words_from_text(text, words):
    assert words_from_text(text) == words
    assert AttackedText(text).words == tuple(words)


def test_replace_word_keeps_punctuation_and_spacing():
    text = AttackedText('"Bad," she said -- really bad!!  (Awful.)')
    assert text.words == ("Bad", "she", "said", "really", "bad", "Awful")
    out = text.replace_word_at_index(4, "bda")
    assert out.text == '"Bad," she said -- really bda!!  (Awful.)'
    assert out.modified_indices == {4}
    assert out.original_text == text.text
    out = out.replace_word_at_index(0, "Bd").replace_word_at_index(5, "Awfl")
    assert out.text == '"Bd," she said -- really bda!!  (Awfl.)'
    assert out.modified_indices == {0, 4, 5}


def test_replace_locates_repeated_words_left_to_right():
    text = AttackedText("bad, bad; bad.")
    assert text.replace_word_at_index(1, "X").text == "bad, X; bad."
    assert text.replace_word_at_index(2, "X").text == "bad, bad; X."


def test_replacing_a_word_with_itself_marks_nothing():
    text = AttackedText("good film")
    assert text.replace_word_at_index(0, "good").modified_indices == frozenset()


def test_unk_replacement_is_one_word():
    out = AttackedText("a good film.").replace_word_at_index(1, "[UNK]")
    assert out.text == "a [UNK] film."
    assert out.words == ("a", "UNK", "film")


def test_delete_word_takes_one_space_and_shifts_indices():
    text = AttackedText("good bad film").replace_word_at_index(2, "flm")
    assert text.modified_indices == {2}
    first = text.delete_word_at_index(0)
    assert first.text == "bad flm"
    assert first.modified_indices == {1}
    middle = text.delete_word_at_index(1)
    assert middle.text == "good flm"
    assert middle.modified_indices == {1}


def test_multiword_replacement_shifts_later_modified_indices():
    text = AttackedText("one two three").replace_word_at_index(2, "thr")
    out = text.replace_word_at_index(0, "uno dos")
    assert out.words == ("uno", "dos", "two", "thr")
    assert out.modified_indices == {0, 1, 3}


def test_words_diff_is_word_level_edit_distance():
    a = AttackedText("the cat sat on the mat")
    assert a.words_diff(a) == 0
    assert a.words_diff(a.replace_word_at_index(1, "cta").replace_word_at_index(5, "mt")) == 2
    assert a.words_diff(a.delete_word_at_index(0)) == 1


def test_replace_word_rejects_bad_arguments():
    text = AttackedText("good film")
    with pytest.raises(IndexError, match=r"index must be in \[0, 2\), got 2"):
        text.replace_word_at_index(2, "x")
    with pytest.raises(TypeError, match="new_word must be a str"):
        text.replace_word_at_index(0, 3)
    with pytest.raises(TypeError, match="text must be a str"):
        AttackedText(None)


def test_english_stopwords_is_nltk_classic_list():
    assert len(ENGLISH_STOPWORDS) == 179
    assert {"the", "not", "don't", "should've", "mightn't", "y"} <= ENGLISH_STOPWORDS
    # later NLTK data releases added contractions like these; the classic list has none
    assert "i'd" not in ENGLISH_STOPWORDS and "he's" not in ENGLISH_STOPWORDS
    assert "The" not in ENGLISH_STOPWORDS
