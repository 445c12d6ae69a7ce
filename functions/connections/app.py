"""ConnectionsFunction: the team API (connections, sources, builds, deliveries, templates) and status callbacks."""

from gitconnect.api.app import create_app, lambda_handler
from gitconnect.api.routes import builds, connections, deliveries, meta, sources, templates

app = create_app(
    meta.router, connections.router, sources.router, builds.router, deliveries.router, templates.router
)
handler = lambda_handler(app)
