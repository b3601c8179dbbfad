"""training stage of ior."""
