"""OAuthCallbackFunction: the provider's redirect after linking (GitHub App install)."""

from gitconnect.api.app import create_app, lambda_handler
from gitconnect.api.routes import oauth

app = create_app(oauth.router)
handler = lambda_handler(app)
