"""HTTP handlers: the middle floor. ``make_app`` builds the application; ``routes()`` is its URL map."""

from .app import AppConfig, PortalApplication, make_http_server
from .base import APIError, APIHandler, NotFoundHandler
from .openapi import build_document
from .page import PageHandler, page_routes
from .routes import api_routes, make_app, routes
from .validation import load_validators

__all__ = [
    "APIError",
    "APIHandler",
    "AppConfig",
    "NotFoundHandler",
    "PageHandler",
    "PortalApplication",
    "api_routes",
    "build_document",
    "load_validators",
    "make_app",
    "make_http_server",
    "page_routes",
    "routes",
]
