"""Operating outbound: Prometheus metrics (``metrics``), the status read model (``status``).

A leaf package: it imports prometheus-client and ``outbound.domain`` only, so every layer may
record into it with one line.
"""
