"""Apply several transformations and pool their candidates."""

from __future__ import annotations

from collections.abc import Sequence

from ior.attacks.transformations.base import Transformation


class CompositeTransformation(Transformation):
    """Run each transformation in order and keep the first candidate for each distinct text
    (TextAttack 0.3.11 keeps insertion order too; the attack later sorts candidates by text,
    so the order only fixes which random draws happen first)."""

    def __init__(self, transformations: Sequence[Transformation]):
        transformations = list(transformations)
        if not transformations:
            raise ValueError("transformations must not be empty")
        for t in transformations:
            if not isinstance(t, Transformation):
                raise TypeError(
                    f"transformations must be Transformation objects, got {type(t).__name__}"
                )
        self.transformations = transformations

    @property
    def deterministic(self) -> bool:  # type: ignore[override]
        return all(t.deterministic for t in self.transformations)

    def config(self) -> dict:
        return {
            "name": type(self).__name__,
            "transformations": [t.config() for t in self.transformations],
        }

    def _transform(self, text, indices, rng):
        seen, candidates = set(), []
        for transformation in self.transformations:
            for candidate in transformation._transform(text, indices, rng):
                if candidate.text not in seen:
                    seen.add(candidate.text)
                    candidates.append(candidate)
        return candidates
