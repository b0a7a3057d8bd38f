"""Customers and operators: imports, consent, inbound messages, erasure, console accounts."""
