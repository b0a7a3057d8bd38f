"""Use cases: notify (prepare, enqueue, fan-out), dispatch, outcomes, inbound, receipts,
campaigns, customers, reports. They apply the policy and call the store's storage steps and the
channel adapters they are given; they never pick an adapter (that is ``outbound.bootstrap``).
"""
