"""Loopback protocol peers (push services, the SMSC) and a throwaway PostgreSQL cluster
(``postgres``) for the tests, the demo and benchmarks.

Stands alone: it imports nothing else of outbound. The production path reaches it only through
the demo's explicit peers (``outbound.demo.peers``).
"""
