"""GitHub through a GitHub App: `webhooks` (verify + normalize, sans I/O), `api` (REST calls over the injected
HTTP client), `app_auth` (App JWT, installation tokens), `provider` (the provider protocol)."""
