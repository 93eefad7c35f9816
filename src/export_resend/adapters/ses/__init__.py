"""Amazon SES delivery events, published to SNS topics and delivered over HTTPS: the SNS
signature verified (versions 1 and 2), the topic allowed, then the SES event read."""

from export_resend.adapters.ses.fetching import (
    UrllibCertificateFetcher,
    UrllibSubscriptionConfirmer,
)
from export_resend.adapters.ses.hosts import (
    check_certificate_url,
    check_subscribe_url,
    check_topic_arn,
)
from export_resend.adapters.ses.receiver import SesDeliveryEventReceiver

__all__ = [
    "SesDeliveryEventReceiver",
    "UrllibCertificateFetcher",
    "UrllibSubscriptionConfirmer",
    "check_certificate_url",
    "check_subscribe_url",
    "check_topic_arn",
]
