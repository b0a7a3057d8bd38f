"""Loopback protocol peers (push services, the SMSC) for the tests, the demo and benchmarks.

Nothing in the production path imports this package.
"""
