"""Search methods: in which order to try perturbations and which to keep."""

from ior.attacks.search.base import SearchContext, SearchMethod
from ior.attacks.search.greedy_wir import WIR_METHODS, GreedyWordSwapWIR

__all__ = ["WIR_METHODS", "GreedyWordSwapWIR", "SearchContext", "SearchMethod"]
