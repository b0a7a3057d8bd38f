"""The one composition root: Settings -> wired objects (adapters, dispatchers, scheduler).

SMS, push and voice wiring and the process mains (``serve`` roles, the dialer) live here; only the
edges (``cli``, ``api``, ``demo``) and the process mains import this package.
"""

from outbound.bootstrap.app import App, build

__all__ = ["App", "build"]
