"""BAE's word swap: mask a word and let a masked language model fill it in.

TextAttack 0.3.11's ``WordSwapMaskedLM(method="bae")``, re-implemented:

1. For every index to modify, the word is replaced by the tokenizer's mask token
   (:meth:`AttackedText.replace_word_at_index`); the masked texts are encoded in batches of
   ``batch_size`` and truncated at ``max_length`` tokens (a mask cut off by truncation gives no
   candidates).
2. At the mask position the logits are softmaxed and the vocabulary is visited in decreasing
   probability. A token is kept while its probability is ``>= min_confidence`` if it is one word
   (:func:`ior.attacks.text.words_from_text` finds exactly one) and not only punctuation;
   the visit stops after ``max_candidates`` kept tokens or at the first token below
   ``min_confidence``.
3. Of those, a word equal to the original word (case-sensitive) or without an ASCII letter is
   dropped, so a text gets *at most* ``max_candidates`` candidates per word.

Departures from TextAttack (the recipe's docstring lists them too):

* Subword pieces are dropped. TextAttack strips ``##`` from a WordPiece continuation and keeps
  the rest ("##ing" becomes the candidate "ing"), although the recipe's docstring and the BAE
  authors say only whole words are kept. ``subwords="strip"`` restores TextAttack's behaviour.
  Byte-level BPE (``Ġ``) and SentencePiece (``▁``) vocabularies are handled the same way: a
  token not starting a word is a piece.
* Special tokens (``[CLS]``, ``[MASK]``, ``[UNK]`` …) and BERT's ``[unusedN]`` slots are never
  candidates; TextAttack would propose "[UNK]" if it ranked in the top 50.
* Equal probabilities are ranked by token id (TextAttack's ``torch.argsort`` is not stable).
* Candidates of a masked text are cached (bounded, exact-text key): the transformation is
  deterministic, and an audit re-attacks the same texts at several temperatures.
* Only ``method="bae"`` exists; TextAttack's ``"bert-attack"`` and ``window_size`` are not
  implemented (BAE uses the whole text).
"""

from __future__ import annotations

import re
from collections import OrderedDict

import numpy as np
import torch

from ior.attacks.text import AttackedText, words_from_text
from ior.attacks.transformations.base import Transformation

METHODS = ("bae",)
SUBWORD_POLICIES = ("drop", "strip")
_PUNCTUATION = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_UNUSED = re.compile(r"^\[unused\d+\]$")


class SwappedText(AttackedText):
    """An :class:`AttackedText` that remembers the word position its last swap changed.

    TextAttack's ``attack_attrs["newly_modified_indices"]``: BAE's windowed sentence-encoder
    check compares against the *original* text, where earlier swaps also differ, and needs to
    know which position the window is centred on
    (:func:`ior.attacks.constraints.semantics.swapped_indices` reads this attribute).
    Equality and hashing are :class:`AttackedText`'s.
    """

    def __init__(self, text: AttackedText, newly_modified_index: int):
        super().__init__(text.text, original_text=text.original_text,
                         modified_indices=text.modified_indices)
        self._newly = frozenset({int(newly_modified_index)})

    @property
    def newly_modified_indices(self) -> frozenset[int]:
        return self._newly


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


class WordSwapMaskedLM(Transformation):
    """Replace a word by a masked language model's predictions for it (BAE-R).

    Parameters
    ----------
    masked_lm : ior.resources.mlm.MaskedLM
        Anything with ``model`` (a ``*ForMaskedLM``) and ``tokenizer`` (with a mask token).
    method : {"bae"}
    max_candidates : int
        At most this many words per masked position (TextAttack default 50).
    min_confidence : float
        Minimum MLM probability of a candidate (TextAttack default 5e-4; BAE uses 0.0).
    batch_size : int
        Masked texts per MLM forward pass (TextAttack default 16).
    max_length : int
        Truncation length in tokens (TextAttack default 512; capped at the model's positions).
    subwords : {"drop", "strip"}
        What to do with a token that continues a word: drop it (default) or strip its marker
        and keep the rest, as TextAttack does.
    cache_size : int
        Masked texts whose candidates are remembered (0 disables the cache).

    Examples
    --------
    >>> from ior.resources.mlm import load_masked_lm                     # doctest: +SKIP
    >>> swap = WordSwapMaskedLM(load_masked_lm(), max_candidates=50, min_confidence=0.0)  # doctest: +SKIP
    >>> swap.replacement_words(AttackedText("a gripping film"), [1])        # doctest: +SKIP
    [['great', 'good', ...]]
    """

    deterministic = True

    def __init__(self, masked_lm, *, method: str = "bae", max_candidates: int = 50,
                 min_confidence: float = 5e-4, batch_size: int = 16, max_length: int = 512,
                 subwords: str = "drop", cache_size: int = 2**14):
        model, tokenizer = getattr(masked_lm, "model", None), getattr(masked_lm, "tokenizer", None)
        if not callable(model) or tokenizer is None:
            raise TypeError("masked_lm must have a callable model and a tokenizer "
                            f"(an ior.resources.mlm.MaskedLM), got {type(masked_lm).__name__}")
        if getattr(tokenizer, "mask_token", None) is None:
            raise ValueError("the masked LM's tokenizer has no mask_token")
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if subwords not in SUBWORD_POLICIES:
            raise ValueError(f"subwords must be one of {SUBWORD_POLICIES}, got {subwords!r}")
        for name, value, low in (("max_candidates", max_candidates, 1), ("batch_size", batch_size, 1),
                                 ("max_length", max_length, 3), ("cache_size", cache_size, 0)):
            if not _is_int(value):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
            if value < low:
                raise ValueError(f"{name} must be >= {low}, got {value}")
        if isinstance(min_confidence, bool) or not isinstance(min_confidence, (int, float)):
            raise TypeError(f"min_confidence must be a float, got {type(min_confidence).__name__}")
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
        self.masked_lm = masked_lm
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.method = method
        self.max_candidates = int(max_candidates)
        self.min_confidence = float(min_confidence)
        self.batch_size = int(batch_size)
        positions = getattr(getattr(model, "config", None), "max_position_embeddings", None)
        self.max_length = int(min(max_length, positions)) if positions else int(max_length)
        self.subwords = subwords
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[str, tuple[str, ...]] = OrderedDict()
        self._vocab_words: dict[bool, list[str | None]] = {}

    def config(self) -> dict:
        describe = getattr(self.masked_lm, "config", None)
        return {
            "name": type(self).__name__,
            "method": self.method,
            "masked_lm": describe() if callable(describe) else type(self.model).__name__,
            "max_candidates": self.max_candidates,
            "min_confidence": self.min_confidence,
            "batch_size": self.batch_size,
            "max_length": self.max_length,
            "subwords": self.subwords,
            "special_tokens": "never candidates",
            "tie_order": "token id",
        }

    # -- the vocabulary, classified once ---------------------------------------------------
    def _classify_vocabulary(self, at_start: bool) -> list[str | None]:
        """For every token id the word it proposes, or None if it can never be a candidate.

        With a ``Ġ``/``▁`` vocabulary the first word of a text carries no marker, so at the
        start of the text unmarked tokens are words, not pieces.
        """
        tokenizer = self.tokenizer
        size = int(getattr(self.model.config, "vocab_size", len(tokenizer)))
        tokens = tokenizer.convert_ids_to_tokens(list(range(size)))
        special = set(tokenizer.all_special_tokens)
        strings = [t for t in tokens if isinstance(t, str)]
        wordpiece = sum(t.startswith("##") for t in strings) > 0.01 * len(strings)
        marker = next((m for m in ("Ġ", "▁")
                       if sum(t.startswith(m) for t in strings) > 0.1 * len(strings)), None)
        words: list[str | None] = []
        for token in tokens:
            if not isinstance(token, str) or token in special or _UNUSED.match(token):
                words.append(None)
                continue
            if wordpiece:
                piece, word = token.startswith("##"), token.removeprefix("##")
            elif marker is not None:
                piece, word = not token.startswith(marker) and not at_start, token.lstrip(marker)
            else:
                piece, word = False, token
            if piece and self.subwords == "drop":
                word = None
            elif not word or len(words_from_text(word)) != 1 or set(word) <= _PUNCTUATION:
                word = None
            words.append(word)
        return words

    def vocab_words(self, at_start: bool = False) -> list[str | None]:
        """The word each token id proposes (None: never a candidate), computed once."""
        key = bool(at_start)
        if key not in self._vocab_words:
            self._vocab_words[key] = self._classify_vocabulary(key)
        return self._vocab_words[key]

    # -- the MLM --------------------------------------------------------------------------
    def _rank(self, probs: torch.Tensor, at_start: bool) -> list[str]:
        """Top words at one mask position (step 2 of the module docstring)."""
        order = torch.sort(probs, descending=True, stable=True).indices.tolist()
        words, vocab, floor = [], self.vocab_words(at_start), self.min_confidence
        values = probs.tolist()
        for token_id in order:
            if values[token_id] < floor:
                break
            word = vocab[token_id] if token_id < len(vocab) else None
            if word is not None:
                words.append(word)
                if len(words) >= self.max_candidates:
                    break
        return words

    def _first_position(self, enc, row: int) -> int:
        special = set(self.tokenizer.all_special_ids) - {self.tokenizer.mask_token_id}
        ids = enc["input_ids"][row].tolist()
        return next((p for p, t in enumerate(ids) if t not in special), 0)

    def _predict(self, masked_texts: list[str]) -> list[tuple[str, ...]]:
        from ior.resources.mlm import mask_logits

        out: list[tuple[str, ...]] = []
        mask_id = self.tokenizer.mask_token_id
        weight = next(self.model.parameters(), None)
        device = weight.device if weight is not None else torch.device("cpu")
        with torch.inference_mode():
            for start in range(0, len(masked_texts), self.batch_size):
                batch = masked_texts[start:start + self.batch_size]
                enc = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_length,
                                     return_tensors="pt").to(device)
                is_mask = enc["input_ids"] == mask_id
                found = is_mask.any(dim=1).tolist()
                positions = is_mask.int().argmax(dim=1)
                probs = torch.softmax(mask_logits(self.model, dict(enc), positions).float(), dim=-1).cpu()
                # The text's first token follows the special tokens the tokenizer prepends.
                first = [self._first_position(enc, j) for j in range(len(batch))]
                out += [tuple(self._rank(probs[j], int(positions[j]) == first[j])) if found[j] else ()
                        for j in range(len(batch))]
        return out

    def replacement_words(self, text, indices) -> list[list[str]]:
        """MLM words for each index in ``indices`` (before removing the original word)."""
        masked = [text.replace_word_at_index(i, self.tokenizer.mask_token).text for i in indices]
        todo = list(dict.fromkeys(m for m in masked if m not in self._cache))
        predicted = dict(zip(todo, self._predict(todo))) if todo else {}
        known = {m: predicted[m] if m in predicted else self._cache[m] for m in masked}
        result = []
        for m in masked:
            words = known[m]
            result.append(list(words))
            if self.cache_size:
                self._cache[m] = words
                self._cache.move_to_end(m)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return result

    def _transform(self, text, indices, rng):
        candidates = []
        for i, words in zip(indices, self.replacement_words(text, indices)):
            original = text.words[i]
            for word in words:
                if word != original and re.search("[a-zA-Z]", word) and len(words_from_text(word)) == 1:
                    candidates.append(SwappedText(text.replace_word_at_index(i, word), i))
        return candidates
