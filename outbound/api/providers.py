"""SMS providers call back here: delivery status and inbound messages (Twilio, Vonage).

``POST /v1/providers/twilio/status`` and ``/v1/providers/twilio/inbound`` take Twilio's form
posts, verified by ``X-Twilio-Signature`` over ``[api] public_url`` + the path (+ query) and the
form parameters, as Twilio documents it. A missing or bad signature is 403 and changes nothing.
A status callback settles the delivery through the same receipts service as SMPP receipts; an
inbound message goes through the same inbound service as SMPP MO (STOP / 退订 / HELP), and its
reply, if any, is answered as TwiML. Twilio's own opt-out (``OptOutType=STOP``) is a
consent-ledger entry (Twilio sends the confirmation itself).
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from outbound.api.deps import ApiDeps, ProviderHooks
from outbound.channels import aliyun, vonage
from outbound.channels.sms_receipts import Receipt
from outbound.channels.twilio import STATUS_STATES, valid_signature

log = logging.getLogger("outbound.api.providers")

TWIML = "application/xml"
MAX_FORM = 64 * 1024


def _empty_twiml() -> Response:
    return Response(
        '<?xml version="1.0" encoding="UTF-8"?><Response></Response>', 200, media_type=TWIML
    )


async def _twilio_form(request: Request, hooks: ProviderHooks | None) -> dict[str, str] | Response:
    """The verified form, or the answer that refuses it (404 unconfigured, 403 bad signature)."""
    if hooks is None or not hooks.twilio_auth_token or not hooks.public_url:
        return Response("twilio callbacks are not configured", 404)
    body = await request.body()
    if len(body) > MAX_FORM:
        return Response("form too large", 413)
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    url = hooks.public_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    given = request.headers.get("x-twilio-signature", "")
    if not valid_signature(hooks.twilio_auth_token, url, parsed, given):
        log.warning("twilio callback to %s refused: bad X-Twilio-Signature", request.url.path)
        return Response("bad X-Twilio-Signature", 403)
    return {key: values[-1] for key, values in parsed.items()}


async def _vonage_params(
    request: Request, hooks: ProviderHooks | None
) -> dict[str, str] | Response:
    """A Vonage webhook's parameters (query string, form or JSON body) once ``sig`` and
    ``timestamp`` check out; else 404 (unconfigured) or 403."""
    if hooks is None or not hooks.vonage_signature_secret:
        return Response("vonage callbacks are not configured", 404)
    body = await request.body()
    if len(body) > MAX_FORM:
        return Response("body too large", 413)
    params: dict[str, str] = dict(request.query_params)
    if body:
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                data = json.loads(body)
            except ValueError:
                return Response("body is not JSON", 400)
            if isinstance(data, dict):
                params.update({k: str(v) for k, v in data.items()})
        else:
            parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            params.update({k: v[-1] for k, v in parsed.items()})
    secret, method = hooks.vonage_signature_secret, hooks.vonage_signature_method
    if not vonage.valid_signature(secret, params, method):
        log.warning("vonage callback to %s refused: bad or stale sig", request.url.path)
        return Response("bad or stale sig", 403)
    return params


def install_providers(api: FastAPI, app: ApiDeps) -> None:
    _install_twilio(api, app.providers)
    _install_vonage(api, app.providers)
    _install_aliyun(api, app.providers)


async def _aliyun_items(
    request: Request, hooks: ProviderHooks | None
) -> list[dict[str, Any]] | Response:
    """An Aliyun push (a JSON array), taken only on a URL holding ``?token=`` = the secret."""
    if hooks is None or not hooks.aliyun_callback_token:
        return Response("aliyun callbacks are not configured", 404)
    given = request.query_params.get("token", "")
    if not hmac.compare_digest(given.encode(), hooks.aliyun_callback_token.encode()):
        log.warning("aliyun push to %s refused: wrong or missing token", request.url.path)
        return Response("wrong or missing token", 403)
    body = await request.body()
    if len(body) > MAX_FORM:
        return Response("body too large", 413)
    try:
        data = json.loads(body) if body else []
    except ValueError:
        return Response("body is not a JSON array", 400)
    items = data if isinstance(data, list) else [data]
    return [item for item in items if isinstance(item, dict)]


def _aliyun_ok() -> JSONResponse:
    return JSONResponse({"code": 0, "msg": "成功"})


def _install_aliyun(api: FastAPI, hooks: ProviderHooks | None) -> None:
    @api.post("/v1/providers/aliyun/status", include_in_schema=False)
    async def aliyun_status(request: Request) -> Response:
        items = await _aliyun_items(request, hooks)
        if isinstance(items, Response):
            return items
        assert hooks is not None
        for report in items:
            ref = str(report.get("biz_id", ""))
            if ref:
                state = aliyun.report_state(report)
                receipt = Receipt(ref, state, str(report.get("err_code", "")))
                await run_in_threadpool(hooks.inbound.receipt, receipt)
        return _aliyun_ok()

    @api.post("/v1/providers/aliyun/inbound", include_in_schema=False)
    async def aliyun_inbound(request: Request) -> Response:
        items = await _aliyun_items(request, hooks)
        if isinstance(items, Response):
            return items
        assert hooks is not None
        for reply in items:
            number = str(reply.get("phone_number", "")).lstrip("+")
            if number:
                phone = "+86" + number if len(number) == 11 and number[0] == "1" else "+" + number
                await run_in_threadpool(hooks.inbound.mo, phone, str(reply.get("content", "")))
        return _aliyun_ok()


def _install_vonage(api: FastAPI, hooks: ProviderHooks | None) -> None:
    @api.post("/v1/providers/vonage/status", include_in_schema=False)
    async def vonage_status(request: Request) -> Response:
        params = await _vonage_params(request, hooks)
        if isinstance(params, Response):
            return params
        assert hooks is not None
        ref = params.get("messageId", "")
        state = vonage.STATUS_STATES.get(params.get("status", "").lower())
        if ref and state is not None:
            receipt = Receipt(ref, state, params.get("err-code", ""))
            await run_in_threadpool(hooks.inbound.receipt, receipt)
        return Response(status_code=204)

    @api.post("/v1/providers/vonage/inbound", include_in_schema=False)
    async def vonage_inbound(request: Request) -> Response:
        params = await _vonage_params(request, hooks)
        if isinstance(params, Response):
            return params
        assert hooks is not None
        msisdn, text = params.get("msisdn", ""), params.get("text", "")
        if msisdn:
            # the reply (STOP confirmation, HELP) is not sent back: Vonage has no reply in the
            # webhook answer; the consent change is what counts
            await run_in_threadpool(hooks.inbound.mo, "+" + msisdn.lstrip("+"), text)
        return Response(status_code=204)


def _install_twilio(api: FastAPI, hooks: ProviderHooks | None) -> None:
    @api.post("/v1/providers/twilio/status", include_in_schema=False)
    async def twilio_status(request: Request) -> Response:
        form = await _twilio_form(request, hooks)
        if isinstance(form, Response):
            return form
        assert hooks is not None
        sid, status = form.get("MessageSid", ""), form.get("MessageStatus", "").lower()
        state = STATUS_STATES.get(status)
        if sid and state is not None:
            receipt = Receipt(sid, state, form.get("ErrorCode", ""))
            await run_in_threadpool(hooks.inbound.receipt, receipt)
        return _empty_twiml()

    @api.post("/v1/providers/twilio/inbound", include_in_schema=False)
    async def twilio_inbound(request: Request) -> Response:
        form = await _twilio_form(request, hooks)
        if isinstance(form, Response):
            return form
        assert hooks is not None
        phone, text = form.get("From", ""), form.get("Body", "")
        if not phone:
            return _empty_twiml()
        if form.get("OptOutType", "").upper() == "STOP":
            evidence = f"twilio OptOutType STOP ({text.strip()[:40]!r})"
            await run_in_threadpool(hooks.inbound.opted_out, phone, "twilio", evidence)
            return _empty_twiml()
        reply = await run_in_threadpool(hooks.inbound.mo, phone, text)
        if not reply:
            return _empty_twiml()
        twiml = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f"<Response><Message>{escape(reply)}</Message></Response>"
        )
        return Response(twiml, 200, media_type=TWIML)
