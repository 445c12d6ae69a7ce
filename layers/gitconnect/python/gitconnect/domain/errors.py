"""Domain errors. Each maps to one HTTP status in one place (gitconnect.api.problems)."""

from __future__ import annotations


class GitconnectError(Exception):
    """A subclass names its HTTP status and title on its class line (`class X(GitconnectError, status=409, title=...)`)
    or inherits them."""

    status = 500
    title = "Internal error"

    def __init_subclass__(cls, *, status: int | None = None, title: str | None = None) -> None:
        super().__init_subclass__()
        cls.status = cls.status if status is None else status
        cls.title = cls.title if title is None else title

    def __init__(self, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class BadRequestError(GitconnectError, status=400, title="Bad request"): ...


class UnauthorizedError(GitconnectError, status=401, title="Unauthorized"): ...


class ForbiddenError(GitconnectError, status=403, title="Forbidden"): ...


class NotFoundError(GitconnectError, status=404, title="Not found"): ...


class ConflictError(GitconnectError, status=409, title="Conflict"): ...


class ProtectedBranchError(ConflictError, title="Protected branch"):
    """The provider refused a direct commit because the branch is protected (GitHub's branch protection or rules,
    GitLab's protected branches, Bitbucket's branch restrictions): it takes changes through pull requests only."""


class PayloadTooLargeError(GitconnectError, status=413, title="Payload too large"): ...


class UnprocessableError(GitconnectError, status=422, title="Unprocessable"): ...


class UnsafeUrlError(BadRequestError, title="URL not allowed"):
    """A user-supplied URL is refused by the SSRF rules (scheme, address, redirect)."""


class RemoteUnreachableError(UnprocessableError, title="Remote not reachable"):
    """The remote (Git server or provider API) could not be reached or refused us."""


class RemoteAuthError(UnprocessableError, title="Remote refused the credentials"):
    """The remote answered, but refused the credentials we have."""


class RateLimitedError(GitconnectError, status=503, title="Rate limited by the remote"):
    """The remote's rate limit (GitHub's primary or secondary limits) asks us to wait longer than we may."""

    def __init__(self, detail: str = "the remote is rate limiting us", *, retry_after: float | None = None) -> None:
        extra = {} if retry_after is None else {"retry_after": max(0, round(retry_after))}
        super().__init__(detail, **extra)
        self.retry_after = retry_after


class RefreshRefusedError(RemoteAuthError, title="Remote refused the token refresh"):
    """The provider refused to refresh OAuth tokens (`invalid_grant`): the refresh token was already used, revoked
    or expired. Retrying cannot help; the connection must be linked again."""


class MalformedPayloadError(GitconnectError, status=400, title="Malformed payload"):
    """A verified delivery whose JSON does not have the shape its provider documents (a value of another type, a
    required value missing). Retrying cannot help: the router logs it `rejected` with `reason` and acknowledges it."""

    def __init__(self, problem: str, *, event: str | None = None) -> None:
        super().__init__(f"malformed {event} payload: {problem}" if event else f"malformed payload: {problem}")
        self.problem = problem
        self.event = event

    @property
    def reason(self) -> str:
        """What the delivery log says: `malformed push payload: ref is not a string (got null)`."""
        return self.detail

    def about(self, event: str) -> MalformedPayloadError:
        """The same problem, naming the delivery's event."""
        return MalformedPayloadError(self.problem, event=event)
