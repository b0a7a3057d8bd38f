"""The process mains, above ``api`` and ``bootstrap``: ``serve``'s roles (API, scheduler, workers,
dialer processes) in ``serve``, and one voice dialer process in ``dialer``
(``python -m outbound.mains.dialer``).

They take wired objects from ``bootstrap`` and hand the API its narrow ``ApiDeps``; only ``cli``
(``outbound serve``, ``outbound api openapi``) imports them (``bootstrap`` builds, it starts no
process).
"""
