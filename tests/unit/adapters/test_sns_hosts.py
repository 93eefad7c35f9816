"""The URLs an SNS message may make us visit: https, on an AWS SNS host, as SNS writes them."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from export_resend.adapters.ses import check_certificate_url, check_subscribe_url, check_topic_arn
from export_resend.adapters.ses.hosts import SNS_HOST

PEM = "/SimpleNotificationService-7506a1e35b36ef5a444dd1a8e7cc3ed8.pem"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-events"
TOKEN = "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3"


@pytest.mark.parametrize(
    "host",
    [
        "sns.us-east-1.amazonaws.com",
        "sns.eu-west-1.amazonaws.com",
        "sns.ap-southeast-2.amazonaws.com",
        "sns.il-central-1.amazonaws.com",
        "sns.us-gov-west-1.amazonaws.com",
        "sns.cn-north-1.amazonaws.com.cn",
        "sns.cn-northwest-1.amazonaws.com.cn",
    ],
)
def test_a_certificate_on_an_sns_host_of_any_partition_is_accepted(host: str) -> None:
    url = f"https://{host}{PEM}"
    assert check_certificate_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        f"http://sns.us-east-1.amazonaws.com{PEM}",
        f"HTTPS://sns.us-east-1.amazonaws.com{PEM}",
        f"//sns.us-east-1.amazonaws.com{PEM}",
        f"https://sns.us-east-1.amazonaws.com.evil.com{PEM}",
        f"https://evilamazonaws.com{PEM}",
        f"https://sns.us-east-1.evilamazonaws.com{PEM}",
        f"https://sns.us-east-1.amazonaws.com.{PEM}",
        f"https://SNS.US-EAST-1.AMAZONAWS.COM{PEM}",
        f"https://sns.us-east-1.amazonaws.com:443{PEM}",
        f"https://sns.us-east-1.amazonaws.com:8443{PEM}",
        f"https://user@sns.us-east-1.amazonaws.com{PEM}",
        f"https://sns.us-east-1.amazonaws.com@evil.com{PEM}",
        f"https://sns.us-east-1.amazonaws.com\\@evil.com{PEM}",
        f"https://evil.com#@sns.us-east-1.amazonaws.com{PEM}",
        f"https://evil.com?@sns.us-east-1.amazonaws.com{PEM}",
        f"https://sns.amazonaws.com{PEM}",
        f"https://s3.us-east-1.amazonaws.com{PEM}",
        f"https://sqs.us-east-1.amazonaws.com{PEM}",
        f"https://sns.evil.com{PEM}",
        f"https://sns.us-east-1.amazonaws.com.cn{PEM}",
        f"https://sns.cn-north-1.amazonaws.com.cn.evil.com{PEM}",
        f"https://sns.us-east-1.amazonaws.co{PEM}",
        f"https://xn--sns-9na.us-east-1.amazonaws.com{PEM}",
        f"https://sns.us-east-1.amazonaws.com{PEM}?x=1",
        f"https://sns.us-east-1.amazonaws.com{PEM}#x",
        f"https://sns.us-east-1.amazonaws.com{PEM}#",
        f"https://sns.us-east-1.amazonaws.com{PEM} ",
        f" https://sns.us-east-1.amazonaws.com{PEM}",
        f"https://sns.us-east-1.amazonaws.com/x/..{PEM}",
        f"https://sns.us-east-1.amazonaws.com/%2e%2e{PEM}",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem.exe",
        "https://sns.us-east-1.amazonaws.com/certificate.pem",
        "https://sns.us-east-1.amazonaws.com/",
        "https://sns.us-east-1.amazonaws.com",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-.pem",
        "file:///etc/passwd",
        "",
    ],
)
def test_any_other_certificate_url_is_refused_without_quoting_it(url: str) -> None:
    with pytest.raises(ValueError, match="SigningCertURL") as refused:
        check_certificate_url(url)
    assert "evil" not in str(refused.value)


_LABEL = st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True)
_SNS = st.sampled_from(
    [
        "sns.us-east-1.amazonaws.com",
        "sns.us-gov-east-1.amazonaws.com",
        "sns.cn-north-1.amazonaws.com.cn",
    ]
)


@given(host=_SNS, before=_LABEL, after=_LABEL, joiner=st.sampled_from([".", "", "-"]))
def test_an_sns_host_with_anything_added_before_or_after_is_refused(
    host: str, before: str, after: str, joiner: str
) -> None:
    for lookalike in (f"{before}{joiner}{host}", f"{host}{joiner}{after}"):
        with pytest.raises(ValueError, match="SigningCertURL"):
            check_certificate_url(f"https://{lookalike}{PEM}")


@given(st.text(max_size=120) | st.from_regex(r"https://sns\.[a-z0-9.:@-]{0,40}/.{0,60}"))
def test_a_certificate_url_accepted_is_https_on_an_sns_host(url: str) -> None:
    try:
        check_certificate_url(url)
    except ValueError:
        return
    parts = urlsplit(url)
    assert parts.scheme == "https"
    assert SNS_HOST.fullmatch(parts.netloc)
    assert parts.hostname == parts.netloc
    assert (parts.query, parts.fragment) == ("", "")


def _subscribe(host: str = "sns.eu-west-1.amazonaws.com", **parameters: str) -> str:
    query = {"Action": "ConfirmSubscription", "TopicArn": TOPIC, "Token": TOKEN, **parameters}
    return f"https://{host}/?{urlencode(query)}"


def test_a_subscribe_url_confirming_this_topic_at_sns_is_accepted() -> None:
    assert check_subscribe_url(_subscribe(), TOPIC, TOKEN) == _subscribe()
    raw = f"https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token={TOKEN}"
    assert check_subscribe_url(raw, TOPIC, TOKEN) == raw


@pytest.mark.parametrize(
    "url",
    [
        _subscribe().replace("https://", "http://"),
        _subscribe("sns.eu-west-1.amazonaws.com.evil.com"),
        _subscribe("evilamazonaws.com"),
        _subscribe(Action="Unsubscribe"),
        _subscribe(TopicArn="arn:aws:sns:eu-west-1:999999999999:other"),
        _subscribe(Token="another-token"),
        _subscribe(Extra="1"),
        _subscribe() + "&Action=ConfirmSubscription",
        _subscribe().replace("/?", "/confirm?"),
        _subscribe() + "#x",
        _subscribe().replace("Action=", "action="),
        f"https://sns.eu-west-1.amazonaws.com/?TopicArn={TOPIC}&Token={TOKEN}",
    ],
)
def test_any_other_subscribe_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="SubscribeURL"):
        check_subscribe_url(url, TOPIC, TOKEN)


@pytest.mark.parametrize(
    "arn",
    [
        TOPIC,
        "arn:aws:sns:us-east-1:123456789012:SES_Events-1",
        "arn:aws-us-gov:sns:us-gov-west-1:123456789012:ses",
        "arn:aws-cn:sns:cn-north-1:123456789012:ses",
    ],
)
def test_topic_arns_of_every_partition_are_accepted(arn: str) -> None:
    assert check_topic_arn(arn) == arn


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:sqs:us-east-1:123456789012:ses",
        "arn:aws:sns:us-east-1:1234:ses",
        "arn:aws:sns:us-east-1:123456789012:",
        "arn:aws:sns:us-east-1:123456789012:a b",
        "arn:aws:sns:us-east-1:123456789012:ses:sub-1234",
        "arn:aws:sns:*:123456789012:ses",
        "ses-events",
        " arn:aws:sns:us-east-1:123456789012:ses",
    ],
)
def test_anything_else_is_not_a_topic_arn(arn: str) -> None:
    with pytest.raises(ValueError, match="topic ARN"):
        check_topic_arn(arn)
