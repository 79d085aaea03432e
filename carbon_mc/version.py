"""The installed version of carbon-mc, read from the package metadata."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "carbon-mc"
UNKNOWN = "0+unknown"


def installed_version(distribution: str = DISTRIBUTION) -> str:
    """The version pip recorded for `distribution`, or ``"0+unknown"`` when it is not installed.

    Only a missing distribution (e.g. the package imported from a bare source tree) gives the
    fallback; any other error propagates.
    """
    try:
        return version(distribution)
    except PackageNotFoundError:
        return UNKNOWN


__version__ = installed_version()
