"""cli stage of ior."""
