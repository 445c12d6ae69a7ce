"""Routers of the team API, one module per resource. ALL lists them for the OpenAPI document."""
