"""The operator page (``/ui/``): the API's use cases in a browser, for people; and the API
reference (``/docs``), drawn from ``/openapi.json`` by a bundled Swagger UI."""

from export_resend.adapters.ui.app import create_ui_app, service_routes
from export_resend.adapters.ui.pages import UseCases

__all__ = ["UseCases", "create_ui_app", "service_routes"]
