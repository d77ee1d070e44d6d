"""The one error type of the builder."""


class InputError(ValueError):
    """Bad input to a build: the message names the file, the problem and the fix.

    Raised before anything is written where possible; when raised mid-build the release's
    temporary directory is removed and existing releases are untouched.
    """
