"""What a customer got, and from which file: the text dispatch sends, the template's SHA-256
in the outcome's audit event, the fallback in ``why``; reload without a restart. SQLite and
PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from outbound import bootstrap
from outbound.channels.base import Message
from outbound.channels.push import PushContent
from outbound.defaults import default_dir
from outbound.domain.errors import ConfigError
from outbound.domain.values import Channel, Kind
from outbound.services.views.explain import explain
from outbound.services.views.history import notification_report
from outbound.store.tables import audit_events, log_sends
from tests.integration.helpers import NY, add_customer, shipping, trigger

AppFactory = Callable[..., bootstrap.App]


def _sent_texts(app: bootstrap.App) -> list[str]:
    with app.engine.begin() as conn:
        return list(conn.execute(select(log_sends.c.text).order_by(log_sends.c.at)).scalars())


def _outcome_event(app: bootstrap.App) -> dict[str, object]:
    with app.engine.begin() as conn:
        stored = conn.execute(
            select(audit_events.c.data).where(audit_events.c.action == "delivery.outcome")
        ).scalar_one()
    return json.loads(stored)  # type: ignore[no-any-return]


def test_a_french_canadian_customer_gets_french_and_why_says_which_file(
    make_app: AppFactory,
) -> None:
    app = make_app()
    cid = add_customer(app, "C1", NY, preference="sms", locale="fr-CA")
    note = trigger(app, Kind.SHIPPING, cid, shipping("A1"))
    assert app.dispatcher(app.log_channels()).run_once() == 1
    assert _sent_texts(app) == [
        "Shop : votre commande A1 a été expédiée avec DHL (suivi T-A1), livraison prévue le "
        "28 novembre 2026. Désabonnement : répondez STOP"
    ]
    file = default_dir("templates") / "shipping" / "sms.fr.j2"
    footer = default_dir("templates") / "footer" / "sms.fr.j2"
    template = _outcome_event(app)["detail"]["template"]  # type: ignore[index]
    assert template == {
        "file": "shipping/sms.fr.j2",
        "sha256": hashlib.sha256(file.read_bytes()).hexdigest(),
        "locale": "fr",
        "fallback": "no fr-CA template",
        "footer": "footer/sms.fr.j2",
        "footer_sha256": hashlib.sha256(footer.read_bytes()).hexdigest(),
    }
    with app.engine.begin() as conn:
        why = explain(notification_report(conn, note.notification_id))
    line = next(x for x in why.splitlines() if "template" in x)
    assert line.startswith(
        "  ok  template     [sms] rendered in fr (no fr-CA template): shipping/sms.fr.j2 sha256 "
    )


def test_reload_changes_the_wording_and_the_recorded_hash_without_a_restart(
    make_app: AppFactory, tmp_path: Path
) -> None:
    own = tmp_path / "templates"
    shutil.copytree(default_dir("templates"), own)
    app = make_app(templates={"dir": str(own)})
    worker = app.dispatcher(app.log_channels())
    cid = add_customer(app, "C1", NY, preference="sms", locale="en-US")
    trigger(app, Kind.SHIPPING, cid, shipping("A1"))
    worker.run_once()
    edited = "{{ brand }}: order {{ order_id }} ships today. {{ footer }}\n"
    (own / "shipping" / "sms.en.j2").write_text(edited)
    trigger(app, Kind.SHIPPING, cid, shipping("A2"))
    worker.run_once()  # not reloaded yet: the wording in use stays
    app.reload_templates()
    trigger(app, Kind.SHIPPING, cid, shipping("A3"))
    worker.run_once()
    texts = _sent_texts(app)
    assert texts[1].startswith("Shop: your order A2 is on its way")
    assert texts[2] == "Shop: order A3 ships today. Reply STOP to opt out."
    with app.engine.begin() as conn:
        hashes = [
            json.loads(d)["detail"]["template"]["sha256"]
            for d in conn.execute(
                select(audit_events.c.data)
                .where(audit_events.c.action == "delivery.outcome")
                .order_by(audit_events.c.seq)
            ).scalars()
        ]
    assert hashes[2] == hashlib.sha256(edited.encode()).hexdigest() != hashes[0] == hashes[1]


def test_a_broken_template_is_refused_at_reload_and_the_old_set_stays(
    make_app: AppFactory, tmp_path: Path
) -> None:
    own = tmp_path / "templates"
    shutil.copytree(default_dir("templates"), own)
    app = make_app(templates={"dir": str(own)})
    before = app.templates().current
    (own / "renewal" / "sms.de.j2").write_text("{{ brand }} {{ tierr }} {{ footer }}\n")
    with pytest.raises(ConfigError, match=r"renewal/sms\.de\.j2:1 \[tierr\]: unknown field"):
        app.reload_templates()
    assert app.templates().current is before
    with pytest.raises(ConfigError, match=r"renewal/sms\.de\.j2:1 \[tierr\]"):
        app.check_templates(app.templates().fresh())  # what serve runs before it starts


def test_a_push_carries_its_templates_title() -> None:
    message = Message(7, Channel.PUSH, Kind.SHIPPING, 1, "endpoint", "de-DE", "Text", {}, "Titel")
    assert PushContent.of(message, "Shop").title == "Titel"
    untitled = Message(7, Channel.PUSH, Kind.SHIPPING, 1, "endpoint", "de-DE", "Text")
    assert PushContent.of(untitled, "Shop").title == "Shop"
