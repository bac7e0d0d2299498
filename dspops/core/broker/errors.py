"""The broker error type, in a module of its own so that catching it never imports ib_insync."""

from dspops.core.errors import OperatorError


class GatewayError(OperatorError):
    """A broker operation failed. The message says what happened and what to do.

    `code` is the IB error code when one applies (e.g. 200, 326, 354), else None.
    """

    def __init__(self, message: str, *, code: int | None = None):
        super().__init__(message)
        self.code = code
