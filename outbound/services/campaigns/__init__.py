"""Campaigns: runs over a segment, dry-run previews, reports, finish-time forecasts."""
