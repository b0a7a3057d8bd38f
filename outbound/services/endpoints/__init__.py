"""Status webhooks out: the shop's endpoints, the events fanned out to them in the transaction
of the state change that caused them (``events.emit``), and the delivery worker (``worker``)."""
