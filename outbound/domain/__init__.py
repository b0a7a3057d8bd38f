"""The domain: values and str-Enums (``values``), errors, clock and masking.

Imports nothing else of outbound; every other layer may import it.
"""
