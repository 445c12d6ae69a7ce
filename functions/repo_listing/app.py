"""RepoListingFunction: what a connection can reach (repositories, namespaces, branches)."""

from gitconnect.api.app import create_app, lambda_handler
from gitconnect.api.routes import listing

app = create_app(listing.router)
handler = lambda_handler(app)
