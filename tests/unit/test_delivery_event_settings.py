"""The settings of delivery events: the SNS topics taken, and the Standard Webhooks secret."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from export_resend.settings import Settings

TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-events"
GOV_TOPIC = "arn:aws-us-gov:sns:us-gov-west-1:123456789012:ses-events"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_by_default_no_topic_and_no_secret_are_set() -> None:
    settings = Settings()
    assert settings.ses_topic_arns == ()
    assert settings.webhook_secret is None


@pytest.mark.parametrize(
    ("value", "topics"),
    [
        (TOPIC, (TOPIC,)),
        (f" {TOPIC} , {GOV_TOPIC} ", (TOPIC, GOV_TOPIC)),
        (f"{GOV_TOPIC},{TOPIC},{GOV_TOPIC},", (GOV_TOPIC, TOPIC)),
        ("", ()),
        (" , ", ()),
    ],
)
def test_topics_are_comma_separated_arns_each_kept_once_in_order(
    monkeypatch: pytest.MonkeyPatch, value: str, topics: tuple[str, ...]
) -> None:
    monkeypatch.setenv("EXPORT_RESEND_SES_TOPIC_ARNS", value)
    assert Settings().ses_topic_arns == topics


@pytest.mark.parametrize(
    "value",
    [
        f'["{TOPIC}"]',
        f"{TOPIC};{GOV_TOPIC}",
        "arn:aws:sqs:eu-west-1:123456789012:queue",
        "ses-events",
        "*",
    ],
)
def test_anything_but_sns_topic_arns_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("EXPORT_RESEND_SES_TOPIC_ARNS", value)
    with pytest.raises(ValidationError, match="ses_topic_arns") as refused:
        Settings()
    assert "topic ARN" in str(refused.value)


def test_the_webhook_secret_is_kept_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPORT_RESEND_WEBHOOK_SECRET", SECRET)
    settings = Settings()
    assert settings.webhook_secret is not None
    assert settings.webhook_secret.get_secret_value() == SECRET
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)


@pytest.mark.parametrize(
    "value",
    [
        SECRET.removeprefix("whsec_"),
        "whsec_c2hvcnQ=",
        "whsec_not*base64*at*all*xxxxxxxxxxxxxxxxxxxxxxx",
        "hunter2-hunter2-hunter2-hunter2",
    ],
)
def test_a_webhook_secret_not_in_the_whsec_form_is_refused_never_echoed(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("EXPORT_RESEND_WEBHOOK_SECRET", value)
    with pytest.raises(ValidationError, match="webhook_secret") as refused:
        Settings()
    assert value not in str(refused.value)
    assert "whsec_ followed by the base64 of 24 to 64 random bytes" in str(refused.value)
