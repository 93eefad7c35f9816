"""The two requests to SNS, made with urllib: only to SNS URLs, no redirect followed, bounded
answers, every failure a ``ProviderUnavailable``. The network is a stand-in handler."""

from __future__ import annotations

import io
import urllib.error
import urllib.request
from email.message import Message
from urllib.response import addinfourl

import pytest

from export_resend.adapters.ses import UrllibCertificateFetcher, UrllibSubscriptionConfirmer
from export_resend.adapters.ses.fetching import MAX_CERTIFICATE_BYTES, sns_opener
from export_resend.domain.delivery_events import ProviderUnavailable

CERTIFICATE_URL = (
    "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-"
    "7506a1e35b36ef5a444dd1a8e7cc3ed8.pem"
)
SUBSCRIBE_URL = (
    "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription"
    "&TopicArn=arn:aws:sns:eu-west-1:123456789012:ses-events&Token=abc"
)
PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


class FakeNetwork(urllib.request.BaseHandler):
    """Answers every https request with one status, body and headers; records the requests."""

    handler_order = 100  # before urllib's own HTTPSHandler

    def __init__(
        self,
        status: int = 200,
        body: bytes = PEM,
        headers: dict[str, str] | None = None,
        error: Exception | None = None,
    ) -> None:
        self.status, self.body, self.error = status, body, error
        self.headers = headers or {}
        self.requests: list[urllib.request.Request] = []

    def https_open(self, request: urllib.request.Request) -> addinfourl:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        headers = Message()
        for name, value in self.headers.items():
            headers[name] = value
        response = addinfourl(io.BytesIO(self.body), headers, request.full_url, self.status)
        response.msg = "answer"  # type: ignore[attr-defined]  # urllib's error handlers read it
        return response


def fetcher(network: FakeNetwork) -> UrllibCertificateFetcher:
    return UrllibCertificateFetcher(opener=lambda: sns_opener(network))


def confirmer(network: FakeNetwork) -> UrllibSubscriptionConfirmer:
    return UrllibSubscriptionConfirmer(opener=lambda: sns_opener(network))


async def test_a_certificate_is_fetched_from_its_url_as_served() -> None:
    network = FakeNetwork()
    assert await fetcher(network).fetch(CERTIFICATE_URL) == PEM
    (request,) = network.requests
    assert (request.full_url, request.get_method()) == (CERTIFICATE_URL, "GET")
    assert request.get_header("User-agent") == "export-resend"


@pytest.mark.parametrize(
    "url",
    [
        CERTIFICATE_URL.replace("https", "http"),
        CERTIFICATE_URL.replace("amazonaws.com", "amazonaws.com.evil.com"),
        "https://evil.com/SimpleNotificationService-a.pem",
        SUBSCRIBE_URL,
    ],
)
async def test_a_url_that_is_not_an_sns_certificate_is_never_requested(url: str) -> None:
    network = FakeNetwork()
    with pytest.raises(ProviderUnavailable, match="not fetched"):
        await fetcher(network).fetch(url)
    assert network.requests == []


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_is_not_followed(status: int) -> None:
    network = FakeNetwork(status, b"", {"Location": "https://evil.com/cert.pem"})
    with pytest.raises(ProviderUnavailable, match="redirect"):
        await fetcher(network).fetch(CERTIFICATE_URL)
    assert len(network.requests) == 1


@pytest.mark.parametrize("status", [403, 404, 500, 503])
async def test_an_error_status_is_provider_unavailable(status: int) -> None:
    with pytest.raises(ProviderUnavailable, match="HTTPError"):
        await fetcher(FakeNetwork(status, b"<Error/>")).fetch(CERTIFICATE_URL)


async def test_a_status_other_than_200_is_provider_unavailable() -> None:
    with pytest.raises(ProviderUnavailable, match="204"):
        await fetcher(FakeNetwork(204, b"")).fetch(CERTIFICATE_URL)


async def test_an_answer_larger_than_a_certificate_is_refused() -> None:
    assert await fetcher(FakeNetwork(body=b"x" * MAX_CERTIFICATE_BYTES)).fetch(CERTIFICATE_URL)
    with pytest.raises(ProviderUnavailable, match="more than"):
        await fetcher(FakeNetwork(body=b"x" * (MAX_CERTIFICATE_BYTES + 1))).fetch(CERTIFICATE_URL)


@pytest.mark.parametrize(
    "error",
    [
        urllib.error.URLError("name or service not known"),
        TimeoutError("timed out"),
        ConnectionResetError("reset"),
    ],
)
async def test_a_network_failure_is_provider_unavailable_naming_no_url(error: Exception) -> None:
    with pytest.raises(ProviderUnavailable, match=type(error).__name__) as failed:
        await fetcher(FakeNetwork(error=error)).fetch(CERTIFICATE_URL)
    assert "amazonaws" not in str(failed.value)


async def test_a_subscription_is_confirmed_by_visiting_its_url_once() -> None:
    network = FakeNetwork(body=b"<ConfirmSubscriptionResponse/>")
    await confirmer(network).confirm(SUBSCRIBE_URL)
    assert [r.full_url for r in network.requests] == [SUBSCRIBE_URL]


@pytest.mark.parametrize(
    "url",
    [
        SUBSCRIBE_URL.replace("https", "http"),
        SUBSCRIBE_URL.replace("ConfirmSubscription", "Unsubscribe"),
        SUBSCRIBE_URL.replace("sns.eu-west-1.amazonaws.com", "evil.com"),
        CERTIFICATE_URL,
    ],
)
async def test_only_an_sns_confirmation_url_is_visited(url: str) -> None:
    network = FakeNetwork()
    with pytest.raises(ProviderUnavailable, match="not visited"):
        await confirmer(network).confirm(url)
    assert network.requests == []


async def test_a_confirmation_sns_refuses_is_provider_unavailable() -> None:
    with pytest.raises(ProviderUnavailable):
        await confirmer(FakeNetwork(404, b"<Error/>")).confirm(SUBSCRIBE_URL)
    with pytest.raises(ProviderUnavailable, match="redirect"):
        await confirmer(FakeNetwork(302, b"", {"Location": "https://evil.com/"})).confirm(
            SUBSCRIBE_URL
        )
