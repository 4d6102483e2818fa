"""The back office's route table, mounted at /admin by create_app. Order matters where paths
overlap: /events/new is matched before the roster's /events/{slug}."""

from __future__ import annotations

from portal.web.backoffice import (
    auth,
    badges,
    certificates,
    columns,
    data_access,
    door,
    events,
    followup,
    forms,
    messages,
    organisers,
    outbox,
    privacy,
    registration_edit,
    roster,
    speakers,
    subscribers,
    timetable,
)

routes = [
    *auth.routes, *events.routes, *followup.routes, *messages.routes, *roster.routes, *registration_edit.routes, *columns.routes, *door.routes, *forms.routes, *organisers.routes,
    *outbox.routes, *subscribers.routes, *certificates.routes, *badges.routes, *timetable.routes, *speakers.routes,
    *privacy.routes, *data_access.routes,
]
