"""Use cases: the API that host services and inbound adapters call."""
