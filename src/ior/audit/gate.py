"""``ior audit --fail-on``: turn an audit's verdicts into a CI exit status.

Two kinds of condition, any number of them:

* ``illusion`` trips when any (model, attack) verdict is "illusion of robustness", i.e. the IOR gap
  exceeds the audit's ``--gap-threshold`` and its paired-bootstrap 95% interval excludes 0;
* ``gap>X`` trips when any gap exceeds X points with an interval that excludes 0: the same rule
  at a threshold of the pipeline's choosing (``gap>0`` fails on any significant gap, ``gap>10`` only
  on large ones), independent of the threshold the report's verdicts use.

The audit writes its report first; the gate only decides the exit status (:data:`EXIT_GATE`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

#: Exit status of an audit whose --fail-on condition tripped (2 is a usage or input error).
EXIT_GATE = 3

_GAP = re.compile(r"^gap\s*>\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+))$")


@dataclass(frozen=True)
class FailOn:
    """One ``--fail-on`` condition: ``illusion`` (threshold None) or ``gap>X`` (threshold X points)."""

    text: str
    threshold: float | None = None

    def reasons(self, report: dict) -> list[str]:
        """One line per (model, attack) that trips this condition, in report order."""
        found = []
        for model in report["models"]:
            for attack, a in model["attacks"].items():
                lo = a["gap_ci"][0]
                if self.threshold is None:
                    hit = a["verdict"] == "illusion of robustness"
                else:
                    hit = a["gap"] > self.threshold and lo > 0
                if hit:
                    found.append(f"{model['name']} {attack}: gap {a['gap']:+.1f} points "
                                 f"[{lo:+.1f}, {a['gap_ci'][1]:+.1f}] ({self.text})")
        return found


def parse_fail_on(text: str) -> FailOn:
    """``illusion`` or ``gap>X`` (X in accuracy points, >= 0) as a :class:`FailOn`; ValueError otherwise."""
    key = str(text).strip().lower()
    if key == "illusion":
        return FailOn("illusion")
    match = _GAP.match(key)
    if match is None:
        raise ValueError(f"--fail-on takes 'illusion' or 'gap>X' (X in points, e.g. gap>5), got {text!r}")
    threshold = float(match.group(1))
    if not math.isfinite(threshold) or threshold < 0:
        raise ValueError(f"--fail-on gap>X needs X >= 0 points, got {text!r}")
    return FailOn(f"gap>{threshold:g}", threshold)


def gate(report: dict, conditions) -> list[str]:
    """Every reason the report fails ``conditions`` (empty: the audit passes)."""
    return [reason for condition in conditions for reason in condition.reasons(report)]
