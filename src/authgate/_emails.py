"""Email addresses: syntax check and the lookup key that uniqueness and account linking use."""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

from ._errors import InvalidRequest

__all__ = ["normalize_email"]

_MAX_EMAIL = 254


def normalize_email(email: str) -> tuple[str, str]:
    """Validate an address; return (display form, lookup key).

    The key is NFKC + case-folded, so `Ann@Example.com`, `ann@example.com` and the full-width
    form of the same letters are one account: a look-alike cannot register beside the real user.
    """
    trimmed = email.strip()
    if not trimmed or len(trimmed) > _MAX_EMAIL:
        raise InvalidRequest("email: must be a valid email address", field="email")
    try:
        # Syntax only (deliverability is what email verification proves). `test_environment`
        # admits RFC 6761's `.test` domain, which test suites and staging providers use.
        display = validate_email(trimmed, check_deliverability=False, test_environment=True).normalized
    except EmailNotValidError:
        raise InvalidRequest("email: must be a valid email address", field="email") from None
    return display, unicodedata.normalize("NFKC", display).casefold()
