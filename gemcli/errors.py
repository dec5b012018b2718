"""One exception class for every user-facing error; the CLI turns it into one line and exit 2."""


class GemError(Exception):
    """A problem with the user's input (file, option, run directory), stated in one line."""


class ChangedFile(GemError):
    """A file differs from what the manifest of the stage that wrote it records (edited, truncated, replaced):
    never read past, never skipped as merely unreadable."""
