"""The process mains, above everything else: ``serve``'s roles (API, scheduler, workers,
dialer processes) in ``serve``, and one voice dialer process in ``dialer``
(``python -m outbound.mains.dialer``).

They take wired objects from ``bootstrap`` and hand the API its narrow ``ApiDeps``; nothing
below imports them (``bootstrap`` builds, it starts no process).
"""
