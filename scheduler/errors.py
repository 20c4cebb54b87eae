"""Errors a person caused and can fix: reported as one line, never as a traceback."""


class UserError(Exception):
    """Bad input from the user: a file, an argument, a request. The message says what."""
