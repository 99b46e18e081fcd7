"""The user service's errors; the app factory renders each as ``{"message", "code"}``."""

from __future__ import annotations

from parley.core.errors import BadRequest, Conflict, NotFound, RateLimited, ServiceUnavailable, Unauthorized


class InvalidEmail(BadRequest):
    code, message = "invalid_email", "Please enter a valid email address"


class InvalidName(BadRequest):
    code, message = "invalid_name", "A name is 1 to 50 visible characters"


class MalformedCode(BadRequest):
    code, message = "invalid_otp", "The code is the 6 digits from the email"


class InvalidCode(BadRequest):
    code, message = "invalid_otp", "Invalid code"


class CodeExpired(BadRequest):
    code, message = "otp_expired", "The code has expired or was not requested"


class CodeVoid(BadRequest):
    code, message = "otp_void", "Too many wrong codes: this code no longer works, please request a new one"


class ResendTooSoon(RateLimited):
    code = "otp_cooldown"


class TooManyFailures(RateLimited):
    code = "too_many_failures"


class TooManyRequests(RateLimited):
    code = "rate_limited"


class MailUnavailable(ServiceUnavailable):
    code, message = "mail_unavailable", "We could not send the code right now, please try again"


class BackendUnavailable(ServiceUnavailable):
    message = "The service is briefly unavailable, please try again"


class UserNotFound(NotFound):
    code, message = "user_not_found", "User not found"


class AccountGone(Unauthorized):
    code, message = "account_gone", "This account no longer exists, please log in again"


class InvalidCursor(BadRequest):
    code, message = "invalid_cursor", "The cursor is not valid"


class SessionNotFound(NotFound):
    code, message = "session_not_found", "Session not found"


class BlockYourself(BadRequest):
    code, message = "block_yourself", "You cannot block yourself"


class TooManyBlocks(Conflict):
    code = "too_many_blocks"


class TooManyAvatars(RateLimited):
    code = "too_many_avatars"


class AvatarNotFound(NotFound):
    code, message = "avatar_not_found", "This user has no avatar"


class InvalidUnsubscribeLink(BadRequest):
    code, message = "invalid_unsubscribe_link", "This unsubscribe link is not valid"
