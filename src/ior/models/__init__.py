"""models stage of ior."""
