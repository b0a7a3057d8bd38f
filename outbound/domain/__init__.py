"""The domain: values and str-Enums (``values``), errors, clock and masking; a decision's trace
as codes and values and its words (``trace``), and decisions as stored and read (``records``).

Imports nothing else of outbound; every other layer may import it.
"""
