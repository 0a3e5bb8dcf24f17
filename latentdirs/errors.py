"""User-facing errors: bad input that the CLI reports as one clear line, never a traceback."""


class UserError(Exception):
    """Bad input (missing file, wrong shape, unknown option, corrupt checkpoint, …).

    The message names what was wrong and what was expected; `latentdirs` prints it as
    ``error: <message>`` and exits with status 2.
    """


class LatentdirsWarning(UserWarning):
    """Something the user should know that does not stop the work (e.g. a stand-in for weights that are not on
    this machine); `latentdirs` prints it as one ``warning: <message>`` line."""
