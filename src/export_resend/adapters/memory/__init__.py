"""In-memory adapters: complete implementations of the ports, for tests and embedding.

They ship in the package and pass the same contract suites as the real adapters, so a
test that uses them tells the truth about the real ones.
"""

from export_resend.adapters.memory.api_keys import InMemoryApiKeyStore
from export_resend.adapters.memory.delivery_events import (
    InMemoryCertificateFetcher,
    InMemorySeenWebhookIds,
    InMemorySubscriptionConfirmer,
)
from export_resend.adapters.memory.files import InMemoryFileStore
from export_resend.adapters.memory.mailer import InMemoryMailer
from export_resend.adapters.memory.sessions import InMemorySessionStore
from export_resend.adapters.memory.unit_of_work import (
    InMemoryDeliveryRepository,
    InMemoryExportRepository,
    InMemoryStore,
    InMemoryUnitOfWork,
)

__all__ = [
    "InMemoryApiKeyStore",
    "InMemoryCertificateFetcher",
    "InMemoryDeliveryRepository",
    "InMemoryExportRepository",
    "InMemoryFileStore",
    "InMemoryMailer",
    "InMemorySeenWebhookIds",
    "InMemorySessionStore",
    "InMemoryStore",
    "InMemorySubscriptionConfirmer",
    "InMemoryUnitOfWork",
]
