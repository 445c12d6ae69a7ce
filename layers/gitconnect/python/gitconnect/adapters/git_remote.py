"""Git remotes through dulwich (pure Python, runs inside Lambda), over the SSRF-guarded connection pool."""

from __future__ import annotations

from collections.abc import Callable

import urllib3
from dulwich.client import GitProtocolError, HttpGitClient, HTTPUnauthorized
from dulwich.errors import NotGitRepository

from gitconnect.domain.errors import GitconnectError, RemoteAuthError, RemoteUnreachableError
from gitconnect.domain.urls import check_remote_url
from gitconnect.providers.base import GitCredentials


class DulwichGitRemote:
    def __init__(self, pool_manager_factory: Callable[[], urllib3.PoolManager]) -> None:
        self._pool_manager_factory = pool_manager_factory

    def _client(self, url: str, credentials: GitCredentials | None) -> HttpGitClient:
        url = check_remote_url(url)
        return HttpGitClient(
            url,
            pool_manager=self._pool_manager_factory(),
            username=credentials.username if credentials else None,
            password=credentials.secret if credentials else None,
        )

    def ls_remote(self, url: str, credentials: GitCredentials | None) -> dict[str, str]:
        """Every ref the remote advertises (name -> sha); HEAD symref targets are not followed."""
        client = self._client(url, credentials)
        try:
            result = client.get_refs(b"")
        except GitconnectError:
            raise
        except HTTPUnauthorized as exc:
            raise RemoteAuthError("the remote asked for credentials, or refused the ones given") from exc
        except NotGitRepository as exc:
            raise RemoteUnreachableError("there is no Git repository at this URL") from exc
        except GitProtocolError as exc:
            if isinstance(exc.__cause__, urllib3.exceptions.HTTPError):  # dulwich wraps transport errors
                raise RemoteUnreachableError(f"the remote could not be reached: {_why(exc.__cause__)}") from exc
            raise RemoteUnreachableError(f"the remote did not answer as a Git server: {_short(exc)}") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise RemoteUnreachableError(f"the remote could not be reached: {_why(exc)}") from exc
        return {
            name.decode("utf-8", "replace"): sha.decode("ascii")
            for name, sha in result.refs.items()
            if sha is not None and not name.endswith(b"^{}")
        }


def _why(exc: BaseException) -> str:
    """A short reason for a transport failure, without urllib3's internal pool descriptions."""
    reason = getattr(exc, "reason", None) or exc
    text = str(reason).lower()
    for needle, why in (
        ("refused", "connection refused"),
        ("timed out", "timed out"),
        ("ssl", "TLS failed"),
        ("certificate", "TLS certificate not trusted"),
        ("reset", "connection reset"),
    ):
        if needle in text:
            return why
    return reason.__class__.__name__


def _short(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return text if len(text) <= 200 else text[:200] + "..."
