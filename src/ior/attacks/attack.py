"""An attack: goal function + transformation + constraints + search method.

The plumbing follows TextAttack 0.3.11's ``Attack``: candidates come from the transformation
restricted to the indices every pre-transformation constraint allows; candidates identical to
the current text are removed; each remaining constraint checks them against the original
text (or the current one, per constraint); duplicates are dropped and the survivors are sorted
by text, which fixes the tie order of the search.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from tqdm.auto import tqdm

from ior.attacks.constraints import Constraint, PreTransformationConstraint
from ior.attacks.goal_functions.untargeted import GoalResult, UntargetedClassification
from ior.attacks.results import SKIP_EMPTY, SKIP_MISCLASSIFIED, AttackResult, Outcome
from ior.attacks.search.base import SearchMethod
from ior.attacks.text import AttackedText
from ior.attacks.transformations.base import Transformation


class _ExampleContext:
    """The services a search method gets for one example (implements ``SearchContext``)."""

    def __init__(self, attack: Attack, rng: np.random.Generator):
        self._attack = attack
        self._rng = rng

    def indices_to_order(self, text):
        allowed = set(range(text.num_words))
        for constraint in self._attack.pre_transformation_constraints:
            allowed &= constraint.modifiable_indices(text)
        return sorted(allowed)

    def get_transformations(self, current, original, indices):
        allowed = set(indices) & set(self.indices_to_order(current))
        candidates = self._attack.transformation(current, allowed, self._rng)
        unique = {}
        for c in candidates:
            if c.text != current.text and c.text not in unique:
                unique[c.text] = c
        kept = list(unique.values())
        for constraint in self._attack.constraints:
            if not kept:
                break
            reference = original if constraint.compare_against_original else current
            check_many = getattr(constraint, "check_many", None)  # one batched call (sentence encoders)
            verdicts = check_many(kept, reference) if check_many else [constraint.check(c, reference) for c in kept]
            kept = [c for c, ok in zip(kept, verdicts) if ok]
        return sorted(kept, key=lambda c: c.text)

    def get_results(self, texts):
        return self._attack.goal_function.get_results(texts)

    def similarity(self, text):
        """The sentence-encoder similarity last computed for ``text`` (None without such a constraint)."""
        for constraint in self._attack.constraints:
            scores = getattr(constraint, "last_scores", None)
            if scores is not None and text.text in scores:
                return scores[text.text]
        return None


class Attack:
    """A configured attack.

    Parameters
    ----------
    goal_function : UntargetedClassification
        Holds the victim; it keeps per-example state, so one ``Attack`` attacks one example at
        a time.
    transformation : Transformation
    constraints : sequence
        :class:`PreTransformationConstraint` and :class:`Constraint` objects, in any order.
    search : SearchMethod
    seed : int
        Randomised transformations draw from ``numpy.random.default_rng([seed, index])`` for
        the example at ``index``, so results do not depend on which examples are attacked or
        in what order.

    Examples
    --------
    >>> from ior.attacks.recipes import DeepWordBugGao2018
    >>> from ior.attacks.testing import BagOfWordsVictim
    >>> victim = BagOfWordsVictim({"good": [0.0, 1.0], "fun": [0.0, 1.0]}, bias=[1.5, 0.0])
    >>> attack = DeepWordBugGao2018.build(victim, seed=0)
    >>> attack.attack("good and fun", 1).outcome
    <Outcome.SUCCEEDED: 'succeeded'>
    """

    def __init__(
        self,
        goal_function: UntargetedClassification,
        transformation: Transformation,
        constraints: Sequence[Constraint | PreTransformationConstraint],
        search: SearchMethod,
        *,
        seed: int = 0,
    ):
        if not isinstance(goal_function, UntargetedClassification):
            raise TypeError(
                "goal_function must be an UntargetedClassification, "
                f"got {type(goal_function).__name__}"
            )
        if not isinstance(transformation, Transformation):
            raise TypeError(
                f"transformation must be a Transformation, got {type(transformation).__name__}"
            )
        if not isinstance(search, SearchMethod):
            raise TypeError(f"search must be a SearchMethod, got {type(search).__name__}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.pre_transformation_constraints: list[PreTransformationConstraint] = []
        self.constraints: list[Constraint] = []
        for c in constraints:
            if isinstance(c, PreTransformationConstraint):
                self.pre_transformation_constraints.append(c)
            elif isinstance(c, Constraint):
                self.constraints.append(c)
            else:
                raise TypeError(
                    "constraints must be Constraint or PreTransformationConstraint objects, "
                    f"got {type(c).__name__}"
                )
        self.goal_function = goal_function
        self.transformation = transformation
        self.search = search
        self.seed = int(seed)

    @property
    def model(self):
        return self.goal_function.model

    def config(self) -> dict:
        """Every setting of this attack, for provenance."""
        return {
            "goal_function": self.goal_function.config(),
            "transformation": self.transformation.config(),
            "constraints": [
                c.config() for c in self.pre_transformation_constraints + self.constraints
            ],
            "search": self.search.config(),
            "seed": self.seed,
        }

    def rng_for(self, example_index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, int(example_index)])

    def search_context(self, example_index: int = 0) -> _ExampleContext:
        """What the search method sees for example ``example_index`` (useful to call a
        search step, e.g. ``GreedyWordSwapWIR.rank_words``, on its own)."""
        return _ExampleContext(self, self.rng_for(example_index))

    def attack(self, text: str, label: int, *, example_index: int = 0) -> AttackResult:
        """Attack one example; ``example_index`` selects its random stream."""
        return self._attack_one(text, label, example_index, warn_empty=True)

    def attack_dataset(
        self,
        texts: Sequence[str],
        labels: Sequence[int],
        *,
        progress: bool = True,
        desc: str = "attack",
        start: int = 0,
    ) -> list[AttackResult]:
        """Attack every example; example ``i`` uses random stream ``start + i``.

        ``start`` is the position of ``texts[0]`` in a larger dataset: a shard attacked with its
        offset gets exactly the outcomes the whole dataset attacked at once gives its examples.

        A tqdm bar labelled ``desc`` (when ``progress``) shows the running attack success
        rate. Empty or
        whitespace-only texts are skipped with one warning for the whole call.
        """
        texts, labels = list(texts), list(labels)
        if len(texts) != len(labels):
            raise ValueError(
                f"texts and labels must have the same length, got {len(texts)} and {len(labels)}"
            )
        results, attacked, succeeded = [], 0, 0
        bar = tqdm(total=len(texts), desc=desc, disable=not progress, leave=False)
        try:
            for i, (text, label) in enumerate(zip(texts, labels)):
                result = self._attack_one(text, label, start + i, warn_empty=False)
                results.append(result)
                if result.outcome is not Outcome.SKIPPED:
                    attacked += 1
                    succeeded += result.outcome is Outcome.SUCCEEDED
                    bar.set_postfix(success=f"{succeeded / attacked:.1%}", refresh=False)
                bar.update(1)
            if attacked:  # show the final rate whatever tqdm's refresh interval skipped
                bar.set_postfix(success=f"{succeeded / attacked:.1%}", refresh=True)
        finally:
            bar.close()
        n_empty = sum(r.skip_reason == SKIP_EMPTY for r in results)
        if n_empty:
            warnings.warn(
                f"skipped {n_empty} empty or whitespace-only text(s) without querying the model",
                stacklevel=2,
            )
        return results

    def _attack_one(self, text, label, example_index, *, warn_empty) -> AttackResult:
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)):
            raise TypeError(f"label must be an int, got {type(label).__name__}")
        label = int(label)
        if not text.strip():
            if warn_empty:
                warnings.warn(
                    "skipped an empty or whitespace-only text without querying the model",
                    stacklevel=3,
                )
            return AttackResult(
                original_text=text,
                adversarial_text=text,
                label=label,
                original_prediction=None,
                adversarial_prediction=None,
                original_confidence=None,
                adversarial_confidence=None,
                original_true_prob=None,
                adversarial_true_prob=None,
                queries=0,
                words_changed=0,
                outcome=Outcome.SKIPPED,
                skip_reason=SKIP_EMPTY,
            )
        initial = self.goal_function.init_example(AttackedText(text), label)
        if initial.succeeded:
            return self._result(initial, initial, Outcome.SKIPPED, SKIP_MISCLASSIFIED)
        final = self.search(initial, self.search_context(example_index))
        if final.succeeded:
            return self._result(initial, final, Outcome.SUCCEEDED, None)
        return self._result(initial, initial, Outcome.FAILED, None)

    def _result(
        self, initial: GoalResult, final: GoalResult, outcome: Outcome, skip_reason
    ) -> AttackResult:
        return AttackResult(
            original_text=initial.text.text,
            adversarial_text=final.text.text,
            label=initial.label,
            original_prediction=initial.prediction,
            adversarial_prediction=final.prediction,
            original_confidence=initial.confidence,
            adversarial_confidence=final.confidence,
            original_true_prob=initial.true_prob,
            adversarial_true_prob=final.true_prob,
            queries=self.goal_function.num_queries,
            words_changed=final.text.words_diff(initial.text),
            outcome=outcome,
            skip_reason=skip_reason,
        )
