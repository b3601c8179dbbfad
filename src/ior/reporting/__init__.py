"""reporting stage of ior."""
