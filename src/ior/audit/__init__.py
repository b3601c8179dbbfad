"""audit stage of ior."""
