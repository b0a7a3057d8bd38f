"""Webhook intake: which sources may post, and what each delivery was answered."""
