"""calibration stage of ior."""
