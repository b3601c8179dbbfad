"""ior: is a classifier's adversarial robustness genuine, or an illusion of miscalibration?"""

__version__ = "0.1.0"
