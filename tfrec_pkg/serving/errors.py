"""Errors carrying the HTTP status TF Serving answers them with (shared by request and response code)."""
from __future__ import annotations

__all__ = ["ServingError", "InvalidArgument", "NotFound", "Unimplemented", "ClientClosedRequest"]


class ServingError(Exception):
    """An error with the HTTP status TF Serving would answer (http_server.cc ToHTTPStatusCode)."""

    status_code = 500

    def __init__(self, message: str, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code


class InvalidArgument(ServingError):  # INVALID_ARGUMENT -> 400
    status_code = 400


class NotFound(ServingError):  # NOT_FOUND -> 404
    status_code = 404


class Unimplemented(ServingError):  # UNIMPLEMENTED -> 501
    status_code = 501


class ClientClosedRequest(ServingError):  # the client hung up; nobody reads this (nginx's 499)
    status_code = 499
