"""ASCC: adversarial sparse convex combinations over each word's synonyms (Dong et al., ICLR 2021).

X. Dong, A. T. Luu, R. Ji, H. Liu, "Towards Robustness Against Natural Language Word Substitutions",
https://arxiv.org/abs/2107.13541

The adversary replaces every word embedding by a convex combination of the embeddings of the word
and its synonyms, ``e_i' = sum_j w_ij e(s_ij)`` with ``w_i = softmax(phi_i)`` over the synonym set,
and chooses ``phi`` to maximise ``KL(p(x) || p(x'))`` minus ``alpha`` times the mean entropy of the
``w_i`` (the sparsity term pushes the combination towards actual words). The model is trained on

    CE(logits(x) / T, y) + beta * KL(softmax(logits(x) / T) || softmax(logits(x') / T)).

Settings as in Li et al. 2021b's implementation (TextDefender), with the paper's alpha = 10, beta = 40
(TextDefender's default beta is 4): ``phi`` starts from Kaiming-normal noise and takes ``steps`` = 5
Adam steps (lr 1, weight decay 2e-5) on ``-KL(sum) + alpha * entropy``; the synonym embeddings are
fixed while ``phi`` is searched and trained through in the final loss.

Synonyms come from a :class:`SynonymSource` (WordNet lemma names, or the nearest neighbours in
counter-fitted word vectors) restricted to whole words of the tokenizer's vocabulary:
:class:`SynonymTable` gives a token synonyms only when it is a complete, alphabetic, non-stopword
word (not a piece of a longer word) and keeps at most ``max_synonyms`` synonyms that are themselves
single tokens. Departure: Dong et al. use a word-level vocabulary; a sub-word model can only swap the
words its vocabulary holds whole.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F

from ior.data.stopwords import ENGLISH_STOPWORDS
from ior.training.adversarial import StepResult, TrainingMethod, logits_from_embeddings

WEIGHT_LR = 1.0
WEIGHT_DECAY = 2e-5
_MASKED = -1e4  # softmax weight exactly 0 in float32, with finite log and gradients


@runtime_checkable
class SynonymSource(Protocol):
    """Anything that lists synonyms of a word, best first."""

    def synonyms(self, word: str) -> list[str]: ...

    def config(self) -> dict: ...


class WordNetSynonyms:
    """Lemma names of every WordNet synset of the word, in synset order, without the word itself
    and without multi-word names.

    Parameters
    ----------
    wordnet : object
        An NLTK ``WordNetCorpusReader`` (``ior.data.wordnet.load_wordnet()``) or anything with
        ``synsets(word)`` returning objects with ``lemma_names()``.

    Examples
    --------
    >>> from ior.attacks.testing import FakeWordNet
    >>> WordNetSynonyms(FakeWordNet({"film": [["film", "movie", "motion_picture"]]})).synonyms("film")
    ['movie']
    """

    def __init__(self, wordnet):
        if not callable(getattr(wordnet, "synsets", None)):
            raise TypeError(f"wordnet must have a synsets(word) method, got {type(wordnet).__name__}")
        self.wordnet = wordnet

    def synonyms(self, word: str) -> list[str]:
        seen = {word.lower()}
        out = []
        for synset in self.wordnet.synsets(word):
            for name in synset.lemma_names():
                if "_" in name or "-" in name or " " in name or name.lower() in seen:
                    continue
                seen.add(name.lower())
                out.append(name)
        return out

    def config(self) -> dict:
        return {"name": "wordnet", "reader": type(self.wordnet).__name__}


class EmbeddingSynonyms:
    """Nearest neighbours of the (lower-cased) word in a word embedding, e.g. counter-fitted vectors.

    Parameters
    ----------
    embedding : ior.resources.WordEmbedding
    candidates : int
        Neighbours considered, most similar first.
    min_cos_sim : float
        Keep neighbours at least this cosine-similar (Jia et al. 2019's neighbour sets, used by
        ASCC, take counter-fitted neighbours with cosine similarity >= 0.8).
    """

    def __init__(self, embedding, *, candidates: int = 50, min_cos_sim: float = 0.8):
        if not callable(getattr(embedding, "nearest_neighbours", None)):
            raise TypeError(f"embedding must be a WordEmbedding, got {type(embedding).__name__}")
        self.embedding, self.candidates, self.min_cos_sim = embedding, int(candidates), float(min_cos_sim)

    def synonyms(self, word: str) -> list[str]:
        word = word.lower()
        if word not in self.embedding:
            return []
        out = []
        for i in self.embedding.nearest_neighbours(word, self.candidates):
            if self.embedding.cos_sim(word, i) < self.min_cos_sim:
                break
            out.append(self.embedding.index2word(i))
        return out

    def config(self) -> dict:
        return {"name": "embedding-neighbours", "embedding": getattr(self.embedding, "name", "?"),
                "candidates": self.candidates, "min_cos_sim": self.min_cos_sim}


def as_synonym_source(source) -> SynonymSource:
    """Wrap a WordNet reader or a word embedding; pass a :class:`SynonymSource` through."""
    if isinstance(source, SynonymSource):
        return source
    if callable(getattr(source, "nearest_neighbours", None)):
        return EmbeddingSynonyms(source)
    if callable(getattr(source, "synsets", None)):
        return WordNetSynonyms(source)
    raise TypeError("synonyms must be a SynonymSource, a WordNet reader or a WordEmbedding, "
                    f"got {type(source).__name__}")


def load_synonym_source(spec: str) -> SynonymSource:
    """``"wordnet"`` (the prepared WordNet 3.0) or the path of a word-vector text file
    (``word v1 v2 ...`` lines, e.g. counter-fitted vectors)."""
    if spec == "wordnet":
        from ior.data.wordnet import load_wordnet

        return WordNetSynonyms(load_wordnet())
    from pathlib import Path

    from ior.resources.embeddings import WordEmbedding

    path = Path(spec).expanduser()
    if not path.is_file():
        raise ValueError(f"ascc_synonyms must be 'wordnet' or an existing word-vector file, got {spec!r}")
    return EmbeddingSynonyms(WordEmbedding.from_text(path))


def _word_marks(vocab) -> tuple[str, str | None]:
    """(word-start prefix, continuation prefix) of the tokenizer's sub-word scheme."""
    tokens = list(vocab)
    counts = {mark: sum(t.startswith(mark) for t in tokens) for mark in ("##", "\u0120", "\u2581")}
    if counts["##"] >= max(counts["\u0120"], counts["\u2581"]) and counts["##"] > 0:
        return "", "##"  # WordPiece: "##" marks a continuation
    if counts["\u0120"] >= counts["\u2581"] and counts["\u0120"] > 0:
        return "\u0120", None  # byte-level BPE: "Ġ" marks a word start
    if counts["\u2581"] > 0:
        return "\u2581", None  # SentencePiece: "▁" marks a word start
    raise ValueError("cannot tell whole words from sub-words in this tokenizer's vocabulary")


class SynonymTable:
    """Token-level synonym candidates for ASCC.

    Parameters
    ----------
    tokenizer : transformers tokenizer
    source : SynonymSource, WordNet reader or WordEmbedding
    max_synonyms : int
        At most this many synonyms per word (the source's order decides which).
    """

    def __init__(self, tokenizer, source, *, max_synonyms: int = 8):
        if isinstance(max_synonyms, bool) or not isinstance(max_synonyms, int) or max_synonyms < 1:
            raise ValueError(f"max_synonyms must be an int >= 1, got {max_synonyms!r}")
        self.source = as_synonym_source(source)
        self.max_synonyms = max_synonyms
        self._vocab = dict(tokenizer.get_vocab())
        self._tokens = {i: t for t, i in self._vocab.items()}
        self._start, self._continuation = _word_marks(self._vocab)
        self._special = set(tokenizer.all_special_ids)
        self._lower = bool(getattr(tokenizer, "do_lower_case", False))
        self._cache: dict[int, tuple[int, ...]] = {}

    def config(self) -> dict:
        return {"source": self.source.config(), "max_synonyms": self.max_synonyms}

    def word(self, token_id: int) -> str | None:
        """The word a token spells when it starts a word and may be swapped, else None."""
        if token_id in self._special:
            return None
        token = self._tokens.get(token_id, "")
        if self._continuation is not None and token.startswith(self._continuation):
            return None
        if self._start:
            if not token.startswith(self._start):
                return None
            token = token[len(self._start):]
        if not token.isalpha() or token.lower() in ENGLISH_STOPWORDS:
            return None
        return token

    def is_continuation(self, token_id: int) -> bool:
        """True when the token continues the previous token's word."""
        if token_id in self._special:
            return False
        token = self._tokens.get(token_id, "")
        if self._continuation is not None:
            return token.startswith(self._continuation)
        return not token.startswith(self._start)

    def synonym_ids(self, token_id: int) -> tuple[int, ...]:
        """Single-token synonyms of a token's word (cached), without the token itself."""
        cached = self._cache.get(token_id)
        if cached is not None:
            return cached
        word, ids = self.word(token_id), []
        for synonym in self.source.synonyms(word) if word is not None else []:
            synonym = synonym.lower() if self._lower else synonym
            other = self._vocab.get(self._start + synonym)
            if other is not None and other != token_id and other not in ids and self.word(other) is not None:
                ids.append(other)
            if len(ids) == self.max_synonyms:
                break
        self._cache[token_id] = tuple(ids)
        return self._cache[token_id]

    def candidates(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None):
        """Candidate tokens per position: the token itself first, then its synonyms.

        Returns
        -------
        ids : torch.LongTensor, shape [B, L, S]
        valid : torch.BoolTensor, shape [B, L, S]
            ``valid[..., 0]`` is always True; padding, special tokens and pieces of longer words
            have no other valid candidate.
        """
        ids = input_ids.tolist()
        real = attention_mask.tolist() if attention_mask is not None else [[1] * len(r) for r in ids]
        rows = []
        for row, mask in zip(ids, real):
            out = []
            for i, (token, keep) in enumerate(zip(row, mask)):
                whole = i + 1 == len(row) or not mask[i + 1] or not self.is_continuation(row[i + 1])
                out.append([token, *self.synonym_ids(token)] if keep and whole else [token])
            rows.append(out)
        width = max(len(c) for r in rows for c in r)
        table = torch.zeros(len(ids), len(ids[0]), width, dtype=torch.long)
        valid = torch.zeros(len(ids), len(ids[0]), width, dtype=torch.bool)
        for b, row in enumerate(rows):
            for i, cands in enumerate(row):
                table[b, i, : len(cands)] = torch.tensor(cands)
                valid[b, i, : len(cands)] = True
        return table.to(input_ids.device), valid.to(input_ids.device)


def convex_weights(phi: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """softmax of ``phi`` over the valid candidates (exactly 0 on the others), [B, L, S]."""
    return torch.where(valid, phi, torch.full_like(phi, _MASKED)).softmax(dim=-1)


class ASCC(TrainingMethod):
    """ASCC adversarial training (see the module docstring).

    Parameters
    ----------
    table : SynonymTable
    alpha : float
        Weight of the entropy (sparsity) term in the adversary's objective (10).
    beta : float
        Weight of the KL term in the training loss (40).
    steps : int
        Adam steps of the adversary (5).
    temperature : float

    Attributes
    ----------
    last_weights, last_valid, last_candidates : torch.Tensor
        The convex-combination weights [B, L, S] of the last batch, which candidates were allowed,
        and their token ids.
    """

    name = "ascc"

    def __init__(self, table: SynonymTable, *, alpha=10.0, beta=40.0, steps=5, temperature=1.0):
        super().__init__(temperature=temperature)
        if not isinstance(table, SynonymTable):
            raise TypeError(f"table must be a SynonymTable, got {type(table).__name__}")
        for name, value in (("alpha", alpha), ("beta", beta)):
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be an int >= 1, got {steps!r}")
        self.table, self.alpha, self.beta, self.steps = table, float(alpha), float(beta), steps
        self.last_weights = self.last_valid = self.last_candidates = None

    def config(self) -> dict:
        return dict(super().config(), alpha=self.alpha, beta=self.beta, steps=self.steps,
                    weight_lr=WEIGHT_LR, weight_decay=WEIGHT_DECAY, synonyms=self.table.config())

    def backward(self, model, batch, target) -> StepResult:
        candidates, valid = self.table.candidates(batch["input_ids"], batch.get("attention_mask"))
        candidate_embeds = model.get_input_embeddings()(candidates)  # [B, L, S, D]
        clean_logits = model(**batch).logits
        weights = self._adversary(model, batch, clean_logits.detach(), candidate_embeds.detach(), valid)
        adv_embeds = (weights.unsqueeze(-1) * candidate_embeds).sum(dim=2)
        adv_logits = logits_from_embeddings(model, adv_embeds, batch)
        clean_loss = self.loss(clean_logits, target)
        kl = F.kl_div(F.log_softmax(adv_logits / self.temperature, dim=1),
                      F.log_softmax(clean_logits / self.temperature, dim=1),
                      reduction="batchmean", log_target=True)
        loss = clean_loss + self.beta * kl
        loss.backward()
        self.last_weights, self.last_valid, self.last_candidates = weights, valid, candidates
        swappable = valid[..., 1:].any(dim=-1)
        return StepResult(loss.item(), clean_logits.detach(),
                          {"clean_loss": clean_loss.item(), "kl": kl.item(),
                           "swappable_tokens": int(swappable.sum())})

    def _adversary(self, model, batch, clean_logits, candidate_embeds, valid) -> torch.Tensor:
        """Adam on the weights' logits; returns the final weights [B, L, S] (detached)."""
        n, length, width = valid.shape
        # Kaiming-normal start of a [B, L, S, 1] tensor, as in TextDefender (fan-in L * S).
        phi = torch.randn(n, length, width, device=valid.device) * math.sqrt(2.0 / (length * width))
        phi.requires_grad_(True)
        optimizer = torch.optim.Adam([phi], lr=WEIGHT_LR, weight_decay=WEIGHT_DECAY)
        reference = F.log_softmax(clean_logits / self.temperature, dim=1)
        for _ in range(self.steps):
            weights = convex_weights(phi, valid)
            adv_logits = logits_from_embeddings(model, (weights.unsqueeze(-1) * candidate_embeds).sum(2), batch)
            kl = F.kl_div(F.log_softmax(adv_logits / self.temperature, dim=1), reference,
                          reduction="sum", log_target=True)
            entropy = -(weights * torch.where(valid, weights.clamp(min=1e-30).log(), 0.0)).sum(-1).mean()
            (phi.grad,) = torch.autograd.grad(-kl + self.alpha * entropy, phi)
            optimizer.step()
        return convex_weights(phi.detach(), valid)
