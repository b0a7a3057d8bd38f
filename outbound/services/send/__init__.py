"""Sending: events become notifications, planned, claimed, dispatched, their outcomes recorded."""
