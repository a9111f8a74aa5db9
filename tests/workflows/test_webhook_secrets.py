"""Webhooks as receivers expect them (issue #15, finding 7): Standard Webhooks headers, one
secret per recipient (the employer's secret cannot sign for FK), several signatures during a
rotation, https only in production. A real receiver verifies with the `standardwebhooks`
package."""

from __future__ import annotations

import json

from standardwebhooks import Webhook

from infra.settings import Settings
from infra.webhooks import signed_webhook_headers, verify_webhook

EMPLOYER = "e" * 40
FK = "f" * 40
NEW_EMPLOYER = "n" * 40
BODY = json.dumps({"notification_id": "n-1", "kind": "day_14"}).encode()


def test_standard_webhooks_headers_verify_with_the_package() -> None:
    headers = signed_webhook_headers([EMPLOYER], BODY, "n-1")
    assert headers["webhook-id"] == headers["Idempotency-Key"] == "n-1"
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(EMPLOYER.encode()).verify(BODY, headers) == json.loads(BODY)


def test_one_recipients_secret_does_not_verify_for_another() -> None:
    headers = signed_webhook_headers([EMPLOYER], BODY, "n-1")
    assert verify_webhook(EMPLOYER, headers, BODY)
    assert not verify_webhook(FK, headers, BODY)
    assert not verify_webhook(EMPLOYER, headers, BODY.replace(b"day_14", b"day_90"))


def test_during_a_rotation_both_secrets_sign() -> None:
    headers = signed_webhook_headers([NEW_EMPLOYER, EMPLOYER], BODY, "n-2")
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert verify_webhook(EMPLOYER, headers, BODY) and verify_webhook(NEW_EMPLOYER, headers, BODY)


def test_settings_give_each_recipient_its_own_secrets() -> None:
    settings = Settings(webhook_secrets={"employer": [NEW_EMPLOYER, EMPLOYER], "fk": [FK]})
    assert settings.secrets_by_recipient["employer"] == [NEW_EMPLOYER, EMPLOYER]
    assert settings.secrets_by_recipient["fk"] == [FK]


def test_production_wants_https_and_a_secret_of_its_own_per_recipient() -> None:
    def problems(**kw: object) -> list[str]:
        return [p for p in Settings(**kw).production_problems() if "WEBHOOK_" in p
                and "SJUKFALL_WEBHOOK_SECRET is" not in p]

    good = {"webhook_urls": {"employer": "https://e.example/h", "fk": "https://f.example/h"},
            "webhook_secrets": {"employer": [EMPLOYER], "fk": [FK]}}
    assert problems(**good) == []
    http = {**good, "webhook_urls": {**good["webhook_urls"], "fk": "http://f.example/h"}}
    assert problems(**http) == ["SJUKFALL_WEBHOOK_URLS: fk's URL must be https:// in production"]
    shared = {**good, "webhook_secrets": {"employer": [EMPLOYER], "fk": [EMPLOYER]}}
    assert any("shares a secret" in p for p in problems(**shared))
    missing = {**good, "webhook_secrets": {"employer": [EMPLOYER]}}
    assert any("no secret for fk" in p for p in problems(**missing))
    short = {**good, "webhook_secrets": {"employer": ["short"], "fk": [FK]}}
    assert any("shorter than 32" in p for p in problems(**short))
