"""outbound: notifications and a voice robot for e-commerce, with consent, quiet hours,
caps and a hash-chained audit log.

Layout (imports go one way: ``domain <- policy <- services -> store, channels``; the edges
``cli``, ``api``, ``demo`` and the process mains in ``bootstrap`` sit on top)::

    outbound/
      domain/      values and str-Enums (Decision with typed Suppress codes), errors, clock, masking
      policy/      pure rules: consent, quiet hours, caps, preference, ladder, policies.toml loader
      schemas/     pydantic input models: payloads, customer records, campaign params and segments
      services/    use cases: notify, planning, claims, dispatch, outcomes, calls, inbound, receipts,
                   campaigns, render, reports, snapshots
      store/       SQLAlchemy Core tables, Alembic migrations, storage steps (outbox, outcomes, caps,
                   audit chain, snapshots as rows, send log, push subscriptions, token bucket)
      channels/    adapters behind one port: log sink, SMPP SMS, Web Push + FCM, SIP voice, throttle
      voice/       SIP engine (the only pjsua2 import), flows + linter, runner, TTS, ASR, call
      scheduling/  the only APScheduler import: leader lock, campaign firing, housekeeping
      config/      typed settings (pydantic-settings): one model per section, stated precedence
      defaults/    where the shipped config/*.toml and voice_flows/*.yaml are (checkout or wheel)
      api/         FastAPI app, webhook event envelopes, Standard Webhooks signature gate
      cli/         click commands, one module per group; output (tables, --json), reports
      bootstrap/   the composition root: Settings -> wired objects; SMS/push wiring; process mains
                   (serve roles, the dialer)
      demo/        `outbound demo` and its loopback providers
      testing/     loopback protocol peers (push services, the SMSC and its smsc_js/ script)
"""
