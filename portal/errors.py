"""Domain errors. Each carries the HTTP status it maps to; app.py renders them."""

from __future__ import annotations


class PortalError(Exception):
    status_code = 400
    title = "Something is not right"

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.title)
        self.message = message or self.title


class NotFound(PortalError):
    status_code = 404
    title = "Not found"


class RegistrationErased(NotFound):
    """A private link to a registration erased at its owner's request."""

    title = "This registration was erased"


class RegistrationClosed(PortalError):
    """Registration is not open for this event (draft, cancelled, before or after its window)."""

    status_code = 409
    title = "Registration is closed"


class EventFull(PortalError):
    status_code = 409
    title = "This event is full"


class ChoiceFull(PortalError):
    """A choice with places (a workshop) had none left when the registration took the event's
    lock. `key` names the question, so the form can put the message on it and keep the rest."""

    status_code = 409
    title = "That choice is full"

    def __init__(self, message: str, *, key: str, value: str) -> None:
        super().__init__(message)
        self.key = key
        self.value = value


class SessionChoiceProblem(PortalError):
    """The sessions a participant chose cannot all be held: one is full (with no waiting
    list), cancelled or not to be chosen, or two overlap. `keys` names the sessions at fault,
    so the form can mark them and keep everything else as chosen."""

    status_code = 409
    title = "Please check your sessions"

    def __init__(self, message: str, *, keys: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.keys = keys


class InvalidTransition(PortalError):
    """A registration cannot go from its current state to the one asked for."""

    status_code = 409
    title = "That change is not possible"


class ImportProblem(PortalError):
    """An import file is malformed; the message names the record and the field."""

    status_code = 400
    title = "The import file has a problem"


class InvalidInput(PortalError):
    """A request the portal cannot act on as sent (a damaged link, an unknown choice)."""

    status_code = 400
    title = "Please check what you sent"


class AlreadyExists(PortalError):
    """Something with that name (slug, code, email address) exists already."""

    status_code = 409
    title = "That name is taken"


class NotAllowed(PortalError):
    """The signed-in organiser may not do this."""

    status_code = 403
    title = "Not allowed"
