"""The error every data source raises; torch-free, so the GUI process can catch it without loading torch."""


class DataError(Exception):
    """A problem with the user's data (missing, corrupt, unreachable) worded for the user.

    The message names the file or directory and says what to do; callers show it as-is
    instead of a traceback.
    """
