"""outbound: notifications and a voice robot for e-commerce, with consent, quiet hours,
caps and a hash-chained audit log.

Layout (imports go one way and no two packages import each other; only ``store`` builds SQL;
the edges ``cli``, ``api``, ``demo`` call services and ``bootstrap``, never ``store``;
``bootstrap`` builds and imports no edge; the process mains in ``mains`` sit above ``api`` and
``bootstrap``, started by ``cli``)::

    cli  ->  mains  ->  api  ->  services  ->  store, channels, voice
    cli, demo, mains  ->  bootstrap  ->  services  ->  policy  ->  domain

    outbound/
      domain/      values and str-Enums (Decision with typed Suppress codes), errors, clock, masking
      policy/      pure rules: consent, quiet hours, caps, preference, ladder, policies.toml loader
      schemas/     pydantic input models: payloads, customer records, campaign params and segments
      services/    use cases, a subpackage each: send/, people/, campaigns/, views/, templates/,
                   intake/, endpoints/;
                   checkpoints, storage (the database for the edges: migrate, revision, ready)
      store/       the only SQL: Core tables, Alembic migrations, a query module per aggregate
      channels/    adapters behind one port: log sink, SMPP SMS, Web Push + FCM, SIP voice, throttle
      voice/       SIP engine (the only pjsua2 import), flows + linter, runner, TTS, ASR, call
      scheduling/  the only APScheduler import: leader lock, campaign firing, housekeeping
      config/      typed settings (pydantic-settings): one model per section, stated precedence
      defaults/    where the shipped config/*.toml and voice_flows/*.yaml are (checkout or wheel)
      bootstrap/   the composition root: Settings -> wired objects (App); SMS, push, voice wiring
      api/         FastAPI app on ApiDeps (not App), webhook envelopes, signature gate, console/
      cli/         click commands, one module per group; output (tables, --json), reports
      demo/        `outbound demo` and its loopback providers
      mains/       process mains: serve (API, scheduler, workers, dialers) and the dialer
      testing/     loopback protocol peers (push services, the SMSC and its smsc_js/ script)
"""
