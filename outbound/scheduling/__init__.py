"""The only APScheduler import: leader lock, campaign firing, housekeeping jobs."""
