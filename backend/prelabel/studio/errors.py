"""The error every conversation with Label Studio raises: its message says what failed and why, in one line."""

from __future__ import annotations


class StudioError(RuntimeError):
    """Label Studio could not be reached, or refused a request (the message says which and why). `status`: the
    HTTP status Label Studio answered, when it answered."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status
