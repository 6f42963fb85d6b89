"""The rule for every password the library accepts: its length (NIST SP 800-63B: no composition
rules) and, for a new one, the optional breach-list hook. One place, used by sign-up, sign-in,
change and reset alike."""

from __future__ import annotations

from ._config import PasswordOptions
from ._errors import InvalidRequest

__all__ = ["check_new_password", "check_password_shape"]


def check_password_shape(options: PasswordOptions, password: str, *, for_new_password: bool) -> None:
    """InvalidRequest for a password outside the allowed lengths (the minimum applies to new ones
    only: an old short password must still be able to sign in and be changed)."""
    too_short = for_new_password and len(password) < options.min_length
    if too_short or len(password) > options.max_length:
        raise InvalidRequest(
            f"password: must be {options.min_length} to {options.max_length} characters", field="password"
        )


async def check_new_password(options: PasswordOptions, password: str) -> None:
    """The policy for every new password, at sign-up, change and reset."""
    check_password_shape(options, password, for_new_password=True)
    if options.is_breached is not None and await options.is_breached(password):
        raise InvalidRequest("password: found in a list of breached passwords; choose another", field="password")
