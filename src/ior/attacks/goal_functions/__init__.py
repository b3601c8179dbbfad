"""Goal functions: how an attack scores a text and decides it has succeeded."""

from ior.attacks.goal_functions.untargeted import SCORES, GoalResult, UntargetedClassification

__all__ = ["SCORES", "GoalResult", "UntargetedClassification"]
