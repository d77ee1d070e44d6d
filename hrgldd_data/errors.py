"""The product's own errors: one base class, so that every command ends with one clear line.

Every error the product raises on purpose derives from :class:`HrglddError`; its message names the
file (or repo, or version), the problem and the fix. The ``hrgldd`` command catches this base class
once and prints the message; anything else is a bug and keeps its traceback.

Classes that used to subclass a builtin (``ValueError``, ``FileNotFoundError``) still do, so code
that caught the builtin keeps working.
"""

from __future__ import annotations


class HrglddError(Exception):
    """Base of every error the product raises on purpose; the message says what to do."""


class ArchiveError(HrglddError):
    """A release archive is missing, corrupt or inconsistent; the message names the path."""


class ReleaseExistsError(ArchiveError):
    """The release version already exists; versions are immutable."""


class ReleaseNotFoundError(HrglddError, FileNotFoundError):
    """No release matched; the message lists where it looked, what exists and how to get one."""


class AmbiguousReleaseError(HrglddError, LookupError):
    """Several releases match a version; the message names them and asks for a path or name."""


class HubError(HrglddError):
    """Publishing or pulling failed; the message names the repo, version and the fix."""


class InputError(HrglddError, ValueError):
    """Bad input to a build or import: the message names the file, the problem and the fix.

    Raised before anything is written where possible; when raised mid-build the release's
    temporary directory is removed and existing releases are untouched.
    """


__all__ = [
    "AmbiguousReleaseError",
    "ArchiveError",
    "HrglddError",
    "HubError",
    "InputError",
    "ReleaseExistsError",
    "ReleaseNotFoundError",
]
