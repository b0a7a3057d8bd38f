"""Input schemas: what a payload, a customer record, campaign params and segments must look like.

One set of pydantic models, used by the API, the CLI, CSV/JSONL import, campaigns and the demo,
so every edge rejects the same bad input with the same message.
"""
