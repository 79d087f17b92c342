"""SISR Studio's library: super-resolution networks, weights, inference, training and metrics.

No Qt here: the app and the command line call this package, never the other way round.
"""
__version__ = "0.1.0"
