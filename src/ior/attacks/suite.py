"""The text attack suite: what ``ior audit`` needs from the text attacks, behind its protocol.

The audit (``ior.audit.run``) never touches text. This adapter resolves attack names to recipes,
builds an attack for whatever (temperature-wrapped) model the audit hands it, and returns results
together with the texts to re-score.
"""

from __future__ import annotations

import numpy as np

from ior.attacks.recipes import RECIPES, get_recipe
from ior.audit.config import DEFAULT_OPT_ATTACKS
from ior.attacks.results import AttackResult

#: Short names accepted on the command line, mapped to canonical recipe names.
ALIASES = {
    "bae": "bae",
    "dg": "deepwordbug",
    "deepwordbug": "deepwordbug",
    "pwws": "pwws",
    "tf": "textfooler",
    "textfooler": "textfooler",
}


def canonical_attack(name: str) -> str:
    """Canonical recipe name for ``name`` (aliases such as ``dg`` allowed)."""
    key = str(name).lower()
    if key not in ALIASES:
        raise ValueError(f"unknown attack {name!r}; choose from {sorted(set(ALIASES) | set(RECIPES))}")
    return ALIASES[key]


class TextAttackSuite:
    """Text attacks for the audit.

    Parameters
    ----------
    wordnet : WordNetCorpusReader, optional
        Needed by PWWS; loaded from the prepared cache on first use when not given.
    seed : int
        Seed of every attack's randomness.
    score : {"probability", "margin"}
        What the goal function ranks candidates by.
    progress : bool
        Show a progress bar per attack run.
    embedding, encoder, tagger : optional
        TextFooler's word vectors, sentence encoder and part-of-speech tagger
        (:func:`ior.attacks.recipes.textfooler_jin_2019.default_resources`); each is loaded on
        first use and then shared by every attack this suite builds.
    masked_lm : MaskedLM or path, optional
        BAE's masked language model (:func:`ior.resources.mlm.load_masked_lm`); by default the
        one ``ior resources build-mlm`` wrote, loaded when BAE is first built. BAE shares
        ``encoder`` and ``tagger`` with TextFooler.
    """

    #: ``opt``'s objective Q(T), as in the paper's Appendix G.
    default_opt_attack = DEFAULT_OPT_ATTACKS["text"]
    #: Texts re-scored (and differentiated) together: fixed groups of consecutive examples, so a
    #: text's float32 logits do not depend on how an audit is sharded (batch composition moves them
    #: by ~1e-6). Groups of 8 are also faster on one CPU thread than batches of 64.
    rescore_group = 8

    def __init__(self, *, wordnet=None, seed: int = 0, score: str = "probability", progress: bool = True,
                 embedding=None, encoder=None, tagger=None, masked_lm=None):
        self._wordnet = wordnet
        self._embedding, self._encoder, self._tagger = embedding, encoder, tagger
        self._masked_lm = masked_lm
        self.seed = int(seed)
        self.score = score
        self.progress = progress

    def canonical(self, name: str) -> str:
        return canonical_attack(name)

    def _wordnet_for(self, name: str):
        if name == "pwws" and self._wordnet is None:
            from ior.data.wordnet import load_wordnet

            self._wordnet = load_wordnet()
        return self._wordnet

    def _textfooler_resources(self) -> dict:
        from ior.attacks.recipes.textfooler_jin_2019 import default_resources

        if self._embedding is None or self._encoder is None or self._tagger is None:
            self._embedding, self._encoder, self._tagger = default_resources(
                embedding=self._embedding, encoder=self._encoder, tagger=self._tagger,
                wordnet=self._wordnet)
        return {"embedding": self._embedding, "encoder": self._encoder, "tagger": self._tagger}

    def _bae_resources(self) -> dict:
        from ior.attacks.recipes.bae_garg_2019 import default_resources

        # Loads only what is missing (a path given as masked_lm is loaded once, here).
        self._masked_lm, self._encoder, self._tagger = default_resources(
            masked_lm=self._masked_lm, encoder=self._encoder, tagger=self._tagger, wordnet=self._wordnet)
        return {"masked_lm": self._masked_lm, "encoder": self._encoder, "tagger": self._tagger}

    def resources(self, name: str) -> dict:
        """The word-level resources the recipe ``name`` is built with, loaded on first use and
        shared by every attack of this suite ({} for recipes that need none besides WordNet)."""
        name = self.canonical(name)
        if name == "textfooler":
            return self._textfooler_resources()
        if name == "bae":
            return self._bae_resources()
        return {}

    def check_resources(self, names) -> None:
        """Fail now, before any attack runs, if an attack in ``names`` lacks a resource it would load
        from the prepared cache (BAE's masked LM, TextFooler's counter-fitted vectors, PWWS's WordNet).

        Only presence is checked, nothing large is loaded. Raises the ``RuntimeError`` the loader
        would raise when the attack is first built, which says how to make the resource.
        """
        canonical = {self.canonical(n) for n in names}
        if "bae" in canonical and self._masked_lm is None:
            from ior.resources.mlm import require_default_mlm

            require_default_mlm()
        if "textfooler" in canonical and self._embedding is None:
            from ior.resources.counterfitted import require_counterfitted

            require_counterfitted()
        if "pwws" in canonical:
            self._wordnet_for("pwws")

    def build(self, name: str, model):
        name = self.canonical(name)
        kwargs = {"seed": self.seed, "score": self.score, **self.resources(name)}
        if name == "pwws":
            kwargs["wordnet"] = self._wordnet_for(name)
        return get_recipe(name).build(model, **kwargs)

    def run(self, name: str, model, inputs, labels, *, desc: str = "attack", offset: int = 0) -> list[AttackResult]:
        """Attack ``inputs``; ``offset`` is the position of ``inputs[0]`` in the whole set (a shard's
        examples draw the random streams they would draw unsharded)."""
        attack = self.build(name, model)
        return attack.attack_dataset(list(inputs), [int(y) for y in labels], progress=self.progress, desc=desc,
                                     start=offset)

    def adversarial_inputs(self, results) -> list[str]:
        return [r.adversarial_text for r in results]

    def queries(self, results) -> list[int]:
        return [r.queries for r in results]

    def record(self, result: AttackResult) -> dict:
        return result.to_dict()

    def hyperparameters(self, name: str) -> dict:
        """The configuration of the attack this suite builds under ``name``: the recipe's settings
        with the resources this suite was given or has loaded (not the recipe's defaults)."""
        name = self.canonical(name)
        resources = {}
        if name == "textfooler":
            resources = {"embedding": self._embedding, "encoder": self._encoder, "tagger": self._tagger}
        elif name == "bae":
            resources = {"masked_lm": self._masked_lm, "encoder": self._encoder, "tagger": self._tagger}
        given = {k: v for k, v in resources.items() if v is not None}
        return get_recipe(name).hyperparameters(seed=self.seed, score=self.score, **given)

    def input_gradient_norms(self, model, inputs, labels) -> np.ndarray | None:
        """‖∇ CE(served logits, y)‖₂ with respect to the input token embeddings, per text (float64 [N]);
        None for a victim that is not a Hugging Face model with a tokenizer.

        ``model`` is a :class:`~ior.models.victim.TextClassifier`, possibly temperature-wrapped; the
        temperatures are applied to the float32 logits exactly as the served model applies them.
        """
        import torch
        import torch.nn.functional as F

        from ior.audit.gradients import gradient_norms
        from ior.models.temperature import apply_temperatures, temperature_chain

        base, temperatures = temperature_chain(model)
        if not (hasattr(base, "model") and hasattr(base, "tokenizer")):
            return None  # a victim we cannot differentiate (any object with logits(texts))
        texts, labels = list(inputs), np.asarray(labels, dtype=np.int64)
        network, norms = base.model, np.zeros(len(texts), dtype=np.float64)
        was_training = network.training
        network.eval()
        try:
            for lo in range(0, len(texts), self.rescore_group):
                enc = base.tokenizer(texts[lo:lo + self.rescore_group], padding=True, truncation=True,
                                     max_length=base.max_length, return_tensors="pt")
                embeds = network.get_input_embeddings()(enc["input_ids"]).detach().requires_grad_(True)
                extra = {k: v for k, v in enc.items() if k != "input_ids"}
                logits = apply_temperatures(network(inputs_embeds=embeds, **extra).logits.float(), temperatures)
                target = torch.as_tensor(labels[lo:lo + len(embeds)])
                (grad,) = torch.autograd.grad(F.cross_entropy(logits, target, reduction="sum"), embeds)
                norms[lo:lo + len(embeds)] = gradient_norms(grad)
        finally:
            network.train(was_training)
        return norms
