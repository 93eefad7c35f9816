"""The service's OpenAPI 3.1 document, generated from the pydantic models and the problem table.

Bodies and responses are the models' JSON Schemas (``models_json_schema``, their ``$defs``
gathered under ``components.schemas``); every problem a route can answer is taken from
``PROBLEMS`` in ``adapters/http/problems.py``, grouped by status, with an example per ``code``.
"""

from export_resend.adapters.http.openapi.components import REQUEST_ID_REQUIRED, component_schemas
from export_resend.adapters.http.openapi.document import OpenApiEndpoint, openapi_document
from export_resend.adapters.http.openapi.examples import EXAMPLE_EXPORT_IDS
from export_resend.adapters.http.openapi.operations import OPENAPI_PATH
from export_resend.adapters.http.openapi.problem_examples import ROUTE_INDEPENDENT

__all__ = [
    "EXAMPLE_EXPORT_IDS",
    "OPENAPI_PATH",
    "REQUEST_ID_REQUIRED",
    "ROUTE_INDEPENDENT",
    "OpenApiEndpoint",
    "component_schemas",
    "openapi_document",
]
