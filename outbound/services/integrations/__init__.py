"""Shop platforms in: Shopify and WooCommerce webhooks, verified and mapped to our own use cases.

``shopify`` and ``woocommerce`` are pure functions from a topic's documented payload to
``model`` actions (a customer seen, an order seen, parcels shipped, prices seen, a redaction);
``intake`` applies them in the caller's transaction through the same services as ``/v1/events``
(customers, consent ledger, notify, price-drop fan-out, erasure), and ``signatures`` checks the
platforms' HMACs.
"""
