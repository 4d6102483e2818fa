"""No overbooking across processes: the real server, two worker processes, 300 racing
registrations for 20 seats. Runs on whichever engine the suite runs on."""

from __future__ import annotations

import asyncio
import re

import httpx2 as httpx
import pytest
from sqlalchemy import select

from portal.models import Registration, RegistrationStatus
from portal.registrations.participants import waitlist_position
from tests.servers import free_port, running_portal

pytestmark = pytest.mark.race

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def server(database_url, tmp_path):  # type: ignore[no-untyped-def]
    port = free_port()
    env = {
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_SECRET_KEY": "race-test-secret",
        "PORTAL_BASE_URL": f"http://127.0.0.1:{port}",
        "PORTAL_DELIVER_IN_PROCESS": "0",
        # 300 registrations from one loopback address in seconds: the per-address limit is off.
        "PORTAL_REGISTRATIONS_PER_IP_PER_MINUTE": "0",
    }
    with running_portal(tmp_path, env, "--workers", "2", port=port) as base:
        yield base


async def _form_then_post(
    base: str, path: str, data: dict[str, str], limit: asyncio.Semaphore, transport: httpx.AsyncHTTPTransport
) -> int:
    """One visitor with a cookie jar of its own: load the form (getting a CSRF cookie), submit it.
    The visitors share one connection pool (the transport), closed by the caller."""
    client = httpx.AsyncClient(base_url=base, timeout=60, transport=transport)
    async with limit:
        page = await client.get(path)
        assert page.status_code == 200, page.status_code
        token = CSRF.search(page.text)
        assert token
        response = await client.post(path, data={**data, "csrf_token": token.group(1)})
        return response.status_code


def _queue(sessions, event_id):  # type: ignore[no-untyped-def]
    with sessions() as session:
        rows = session.scalars(select(Registration).where(Registration.event_id == event_id)).all()
        waiting = sorted((r for r in rows if r.status == RegistrationStatus.WAITLISTED), key=lambda r: (r.waitlisted_at, r.id))
        positions = [waitlist_position(session, r) for r in waiting]
        return rows, waiting, positions


def test_three_hundred_racing_registrations_fill_twenty_seats_exactly(server, make_event, sessions):
    event = make_event(capacity=20, waitlist=True)

    async def race() -> list[int]:
        limit = asyncio.Semaphore(64)
        async with httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=64)) as transport:
            return await asyncio.gather(*(
                _form_then_post(
                    server, f"/events/{event.slug}/register",
                    {"name": f"Racer {i}", "email": f"racer{i}@example.org", "consent": "y"}, limit, transport,
                )
                for i in range(300)
            ))

    statuses = asyncio.run(race())
    assert not [s for s in statuses if s >= 500], "no request may fail with a server error"
    assert statuses.count(303) == 300

    rows, waiting, positions = _queue(sessions, event.id)
    confirmed = [r for r in rows if r.status == RegistrationStatus.CONFIRMED]
    assert len(rows) == 300
    assert len(confirmed) == 20
    assert len(waiting) == 280
    assert sorted(positions) == list(range(1, 281))

    # Ten confirmed participants cancel at once: exactly the first ten in the queue move up.
    first_ten = {r.id for r in waiting[:10]}

    async def cancel_all() -> list[int]:
        limit = asyncio.Semaphore(10)
        async with httpx.AsyncHTTPTransport() as transport:
            return await asyncio.gather(*(
                _form_then_post(server, f"/registrations/{r.token}/cancel", {}, limit, transport) for r in confirmed[:10]
            ))

    statuses = asyncio.run(cancel_all())
    assert statuses == [303] * 10

    rows, waiting, positions = _queue(sessions, event.id)
    now_confirmed = {r.id for r in rows if r.status == RegistrationStatus.CONFIRMED}
    assert len(now_confirmed) == 20
    assert first_ten <= now_confirmed
    assert len(waiting) == 270
    assert sorted(positions) == list(range(1, 271))
