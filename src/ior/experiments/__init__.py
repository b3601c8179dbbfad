"""experiments stage of ior."""
