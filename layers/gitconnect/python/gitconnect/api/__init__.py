"""The HTTP face of the team API: Powertools routers, request models, auth and problem+json errors."""
