"""The service's OpenAPI 3.1 document, generated from the pydantic models and the problem table.

Its operations are the routes ``adapters/http/routes.py`` declares, each once. Bodies and
responses are the models' JSON Schemas (``models_json_schema``, their ``$defs`` gathered under
``components.schemas``); every problem a route can answer is taken from ``PROBLEMS`` in
``adapters/http/problems.py``, grouped by status, with an example per ``code``.
"""

from export_resend.adapters.http.openapi.components import (
    REQUEST_ID_REQUIRED,
    Operation,
    Policies,
    component_schemas,
)
from export_resend.adapters.http.openapi.document import OpenApiEndpoint, openapi_document
from export_resend.adapters.http.openapi.examples import EXAMPLE_EXPORT_IDS
from export_resend.adapters.http.openapi.problem_examples import ROUTE_INDEPENDENT

__all__ = [
    "EXAMPLE_EXPORT_IDS",
    "REQUEST_ID_REQUIRED",
    "ROUTE_INDEPENDENT",
    "OpenApiEndpoint",
    "Operation",
    "Policies",
    "component_schemas",
    "openapi_document",
]
