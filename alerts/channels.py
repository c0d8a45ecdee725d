"""The two ways out: email (SMTP, STARTTLS then login) and webhook (JSON POST, retried with back-off).

Messages carry aggregate figures only — never a person's data. A failure raises `DeliveryError`; the caller
records it and retries later (alerts.delivery).
"""
from __future__ import annotations

import logging
import smtplib
import ssl
import time
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

import requests

from alerts.rules import Channel
from models import settings

log = logging.getLogger("homeward.alerts")
SMTP_TIMEOUT_S = 20
WEBHOOK_TIMEOUT_S = 10


class DeliveryError(RuntimeError):
    pass


def send_email(to: tuple[str, ...], subject: str, text: str, html: str,
               attachments: tuple[tuple[str, bytes, str], ...] = ()) -> str:
    """Send one message to `to` through HOMEWARD_SMTP_URL; returns who was told.
    `attachments`: (content id, bytes, subtype) images the HTML shows as `cid:<content id>`."""
    url = settings.smtp_url()
    if not url:
        raise DeliveryError("HOMEWARD_SMTP_URL is not set")
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise DeliveryError("HOMEWARD_SMTP_URL must look like smtp://user:password@host:587")
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = subject, settings.smtp_sender(), ", ".join(to)
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    for cid, data, subtype in attachments:
        msg.get_payload()[1].add_related(data, maintype="image", subtype=subtype, cid=f"<{cid}>")
    context = ssl.create_default_context()  # verifies the server (SSL_CERT_FILE names a private CA)
    try:
        if parts.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(parts.hostname, parts.port or 465, timeout=SMTP_TIMEOUT_S,
                                                    context=context)
        else:
            client = smtplib.SMTP(parts.hostname, parts.port or 587, timeout=SMTP_TIMEOUT_S)
        with client:
            client.ehlo()
            if parts.scheme == "smtp":
                client.starttls(context=context)
                client.ehlo()
            if parts.username:
                client.login(unquote(parts.username), unquote(parts.password or ""))
            client.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"email to {', '.join(to)}: {type(exc).__name__}: {exc}") from exc
    return ", ".join(to)


def post_webhook(channel: Channel, body: dict[str, Any]) -> str:
    """POST the JSON body, trying `channel.retries` times with doubling waits; returns the host told."""
    host = urlsplit(channel.url).netloc
    wait = channel.backoff_seconds
    last = ""
    for attempt in range(1, max(1, channel.retries) + 1):
        try:
            response = requests.post(channel.url, json=body, timeout=WEBHOOK_TIMEOUT_S)
            if response.status_code < 300:
                return host
            last = f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            last = f"{type(exc).__name__}: {exc}"
        log.warning("webhook %s try %d failed: %s", channel.name, attempt, last)
        if attempt < channel.retries:
            time.sleep(wait)
            wait *= 2
    raise DeliveryError(f"webhook {host}: {last} after {channel.retries} tries")


def teams_payload(title: str, lines: list[str], link: str | None) -> dict[str, Any]:
    """A Microsoft Teams *Workflows* ("When a Teams webhook request is received") message: one adaptive card."""
    body: list[dict[str, Any]] = [{"type": "TextBlock", "size": "Medium", "weight": "Bolder", "text": title,
                                   "wrap": True}]
    body += [{"type": "TextBlock", "text": line, "wrap": True} for line in lines]
    card: dict[str, Any] = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                            "version": "1.4", "body": body}
    if link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open in Homeward", "url": link}]
    return {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                                                "contentUrl": None, "content": card}]}
