"""The "your export is ready" email, rendered from Jinja2 templates into one MIME message."""

from export_resend.adapters.jinja.composer import JinjaEmailComposer, default_templates

__all__ = ["JinjaEmailComposer", "default_templates"]
