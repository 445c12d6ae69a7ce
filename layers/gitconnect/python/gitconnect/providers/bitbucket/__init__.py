"""Bitbucket Cloud: OAuth consumers, API tokens and access tokens; per-source repository webhooks."""
