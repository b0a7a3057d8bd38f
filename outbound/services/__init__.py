"""Use cases, grouped by what they serve.

- ``send/``: events become notifications (notify, planning), claims, dispatch, outcomes,
  receipts, in-call actions, policy snapshots;
- ``people/``: customer imports, consent and inbound messages, erasure, console accounts;
- ``campaigns/``: runs over a segment, previews, reports, finish-time forecasts;
- ``views/``: read models and presentation (console, histories, evidence, decision texts, charts);
- ``templates/``: message texts per kind x channel x locale and the size checks at intake.

They apply the policy and call the store's query modules and the channel adapters they are
given; they never pick an adapter (that is ``outbound.bootstrap``).
"""
