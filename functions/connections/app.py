"""ConnectionsFunction: the team API (connections, sources, builds, deliveries) and build status callbacks."""

from gitconnect.api.app import create_app, lambda_handler
from gitconnect.api.routes import builds, connections, deliveries, meta, sources

app = create_app(meta.router, connections.router, sources.router, builds.router, deliveries.router)
handler = lambda_handler(app)
