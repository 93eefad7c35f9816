"""The inbound HTTP adapter: Starlette routes over the application's use cases."""

from export_resend.adapters.http.app import create_http_app, create_operations_app

__all__ = ["create_http_app", "create_operations_app"]
