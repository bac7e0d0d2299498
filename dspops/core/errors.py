"""The one base for every error an operator can act on.

An OperatorError's message says what was wrong, where (file and line, form field, contract) and
what to do next. Entry points (commands, tasks, admin views, the watch) catch this one type and
show the message; anything else is a bug and is allowed to surface as one.
"""


class OperatorError(Exception):
    """Something the operator can fix or act on; the message says what and how."""
