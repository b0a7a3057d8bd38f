"""The HTTP edge: the FastAPI app, webhook event models and the signature gate."""
