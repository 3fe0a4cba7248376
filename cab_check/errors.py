"""One error hierarchy for everything a user can run into, each mapped once to an exit code.

Messages are single sentences a person can act on; they never carry a traceback or a secret.
"""

from __future__ import annotations

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_ENVIRONMENT = 3
EXIT_CANCELLED = 130  # as a shell reports a run stopped by Ctrl-C


class CabError(Exception):
    """Base class; `str(error)` is the sentence shown to the user."""

    exit_code = EXIT_ENVIRONMENT


class BadInput(CabError):
    """The user asked for something that cannot work as given (exit 2)."""

    exit_code = EXIT_BAD_INPUT


class TaskInvalid(BadInput):
    pass


class UnknownTask(BadInput):
    pass


class UnknownTui(BadInput):
    pass


class EnvironmentProblem(CabError):
    """Something outside the request is missing or broken: Docker, the endpoint, an image build (exit 3)."""

    exit_code = EXIT_ENVIRONMENT


class DockerUnavailable(EnvironmentProblem):
    pass


class ImageBuildFailed(EnvironmentProblem):
    pass


class EndpointUnreachable(EnvironmentProblem):
    pass


class KeyringUnavailable(EnvironmentProblem):
    pass


class HandshakeError(CabError):
    """The preflight handshake failed; `cause` names what failed (e.g. "unauthorized", "no_tool_calls")."""

    def __init__(self, message: str, cause: str = "") -> None:
        super().__init__(message)
        self.cause = cause


class HandshakeRejected(HandshakeError, BadInput):
    """The endpoint turned down what the user gave: the key, the model id or the URL's path (exit 2)."""


class HandshakeFailed(HandshakeError, EndpointUnreachable):
    """The endpoint is unreachable, broken, or lacks a feature the TUI needs (exit 3)."""


class ResultNotSaved(EnvironmentProblem):
    pass


class Cancelled(CabError):
    """The user stopped the run (Cancel in the app); everything it made is removed before this is raised on."""

    exit_code = EXIT_CANCELLED

    def __init__(self, message: str = "Cancelled: the run's containers and temp files were removed.") -> None:
        super().__init__(message)
