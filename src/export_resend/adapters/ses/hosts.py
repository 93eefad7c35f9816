"""The only URLs an SNS message may make us visit: a signing certificate, a subscription
confirmation, each https on an AWS SNS host, written exactly as SNS writes them."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

SNS_HOST = re.compile(
    r"sns\.(?:"
    r"(?:[a-z]{2}|us-gov)-[a-z]+-[0-9]{1,2}\.amazonaws\.com"  # aws, aws-us-gov
    r"|cn-[a-z]+-[0-9]{1,2}\.amazonaws\.com\.cn"  # aws-cn
    r")"
)
"""``sns.<region>.amazonaws.com`` (the commercial partition and GovCloud, ``us-gov-*``) and
``sns.cn-<…>.amazonaws.com.cn`` (China). Lower case, no port, no trailing dot: a host is
matched whole, so ``sns.us-east-1.amazonaws.com.evil.com`` and ``evilamazonaws.com`` fail."""

_CERTIFICATE_PATH = re.compile(r"/SimpleNotificationService-[A-Za-z0-9]{1,64}\.pem")
_URL_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_TOPIC_ARN = re.compile(
    r"arn:aws(?:-cn|-us-gov)?:sns:[a-z]{2}(?:-gov)?-[a-z]+-[0-9]{1,2}:[0-9]{12}:[A-Za-z0-9_-]{1,256}"
)


def check_topic_arn(value: str) -> str:
    """Return ``value`` if it is an SNS topic ARN (``arn:aws:sns:REGION:ACCOUNT:NAME``, or the
    ``aws-cn``/``aws-us-gov`` partitions); ``ValueError`` otherwise."""
    if not _TOPIC_ARN.fullmatch(value):
        raise ValueError("not an SNS topic ARN such as arn:aws:sns:us-east-1:123456789012:name")
    return value


def _on_sns_host(url: str, what: str) -> tuple[str, str]:
    if not url.startswith("https://") or not _URL_CHARACTERS.fullmatch(url):
        raise ValueError(f"the {what} is not an https:// URL")
    parts = urlsplit(url)
    if not SNS_HOST.fullmatch(parts.netloc) or parts.fragment or "#" in url:
        raise ValueError(f"the {what} is not on an AWS SNS host")
    return parts.path, parts.query


def check_certificate_url(url: str) -> str:
    """Return ``url`` if SNS could serve its signing certificate there:
    ``https://<SNS host>/SimpleNotificationService-<name>.pem``, nothing more; ``ValueError``
    (whose message never quotes the URL) otherwise."""
    path, query = _on_sns_host(url, "SigningCertURL")
    if query or "?" in url or not _CERTIFICATE_PATH.fullmatch(path):
        raise ValueError("the SigningCertURL is not the path of an SNS certificate")
    return url


def check_confirmation_url(url: str) -> dict[str, list[str]]:
    """The query parameters of ``url`` if it is an SNS subscription confirmation:
    ``https://<SNS host>/?Action=ConfirmSubscription&…``, every parameter once;
    ``ValueError`` otherwise."""
    path, query = _on_sns_host(url, "SubscribeURL")
    try:
        parameters = parse_qs(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise ValueError("the SubscribeURL's query cannot be read") from None
    if (
        path not in ("", "/")
        or parameters.get("Action") != ["ConfirmSubscription"]
        or any(len(values) != 1 for values in parameters.values())
    ):
        raise ValueError("the SubscribeURL is not an SNS ConfirmSubscription URL")
    return parameters


def check_subscribe_url(url: str, topic_arn: str, token: str) -> str:
    """Return ``url`` if it confirms the subscription of ``topic_arn`` with ``token`` at SNS:
    ``https://<SNS host>/?Action=ConfirmSubscription&TopicArn=…&Token=…``, those three
    parameters once each and nothing else; ``ValueError`` otherwise."""
    parameters = check_confirmation_url(url)
    expected = {"Action": ["ConfirmSubscription"], "TopicArn": [topic_arn], "Token": [token]}
    if parameters != expected:
        raise ValueError("the SubscribeURL does not confirm this topic's subscription")
    return url
