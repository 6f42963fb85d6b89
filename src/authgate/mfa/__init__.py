"""Second factors: email one-time codes, TOTP with recovery codes, trusted devices."""

from ._flow import MFAChallenge, MFAFlow
from ._totp import TOTPEnrollment

__all__ = ["MFAChallenge", "MFAFlow", "TOTPEnrollment"]
