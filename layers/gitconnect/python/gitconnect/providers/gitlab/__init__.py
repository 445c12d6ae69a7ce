"""GitLab (gitlab.com and self-managed): `webhooks` (verify + normalize, sans I/O), `api` (REST calls over the injected
HTTP client), `oauth` (authorization and token refresh), `provider` (the provider protocol)."""
