"""The one composition root: Settings -> wired objects (adapters, dispatchers, scheduler).

SMS, push and voice wiring live here; it imports no edge (``cli``, ``api``, ``demo``) and no
process main (``outbound.mains``), which sit above it and are the only ones that import it.
"""

from outbound.bootstrap.app import App, build

__all__ = ["App", "build"]
