"""Domain errors. Each maps to one HTTP status in one place (gitconnect.api.problems)."""

from __future__ import annotations


class GitconnectError(Exception):
    status = 500
    title = "Internal error"

    def __init__(self, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class BadRequestError(GitconnectError):
    status = 400
    title = "Bad request"


class UnauthorizedError(GitconnectError):
    status = 401
    title = "Unauthorized"


class ForbiddenError(GitconnectError):
    status = 403
    title = "Forbidden"


class NotFoundError(GitconnectError):
    status = 404
    title = "Not found"


class ConflictError(GitconnectError):
    status = 409
    title = "Conflict"


class PayloadTooLargeError(GitconnectError):
    status = 413
    title = "Payload too large"


class UnprocessableError(GitconnectError):
    status = 422
    title = "Unprocessable"


class UnsafeUrlError(BadRequestError):
    """A user-supplied URL is refused by the SSRF rules (scheme, address, redirect)."""

    title = "URL not allowed"


class RemoteUnreachableError(UnprocessableError):
    """The remote (Git server or provider API) could not be reached or refused us."""

    title = "Remote not reachable"


class RemoteAuthError(UnprocessableError):
    """The remote answered, but refused the credentials we have."""

    title = "Remote refused the credentials"


class RateLimitedError(GitconnectError):
    """The remote's rate limit (GitHub's primary or secondary limits) asks us to wait longer than we may."""

    status = 503
    title = "Rate limited by the remote"

    def __init__(self, detail: str = "the remote is rate limiting us", *, retry_after: float | None = None) -> None:
        extra = {} if retry_after is None else {"retry_after": max(0, round(retry_after))}
        super().__init__(detail, **extra)
        self.retry_after = retry_after


class RefreshRefusedError(RemoteAuthError):
    """The provider refused to refresh OAuth tokens (`invalid_grant`): the refresh token was already used, revoked
    or expired. Retrying cannot help; the connection must be linked again."""

    title = "Remote refused the token refresh"


class MalformedPayloadError(GitconnectError):
    """A verified delivery whose JSON does not have the shape its provider documents (a value of another type, a
    required value missing). Retrying cannot help: the router logs it `rejected` with `reason` and acknowledges it."""

    status = 400
    title = "Malformed payload"

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
