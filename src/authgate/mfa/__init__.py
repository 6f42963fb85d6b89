"""Second factors: the public types (the challenge a sign-in answers with, a TOTP enrolment) and
the TOTP primitives. The flow itself is `auth.mfa`."""

from .._models import MFAChallenge
from ._totp import TOTPEnrollment

__all__ = ["MFAChallenge", "TOTPEnrollment"]
