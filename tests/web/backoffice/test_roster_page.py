"""The roster page: counts, chart, filter, search, sort by any column, keyset pages."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.db import utcnow
from portal.models import Registration, RegistrationStatus
from portal.rosters import door, numbers, roster, search
from portal.rosters.roster import RosterQuery, roster_page

T0 = utcnow().replace(microsecond=0) - timedelta(days=10)


@pytest.fixture
def crowd(make_event, make_registration):  # type: ignore[no-untyped-def]
    """An event with 11 registrations whose columns differ, and some ties, to sort by."""
    event = make_event(capacity=None)
    states = [RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED, RegistrationStatus.PENDING, RegistrationStatus.CANCELLED, RegistrationStatus.CONFIRMED, RegistrationStatus.REJECTED, RegistrationStatus.CONFIRMED, RegistrationStatus.CONFIRMED, RegistrationStatus.PENDING, RegistrationStatus.CONFIRMED, RegistrationStatus.CONFIRMED]
    people = []
    for i, status in enumerate(states):
        people.append(make_registration(
            event,
            name=f"Person {'ABCDEFGHIJK'[(i * 7) % 11]}",
            email=f"p{(i * 5) % 11:02d}@example.org",
            organisation=["Ministry", "Embassy", "University"][i % 3],  # ties, broken by id
            status=status,
            created_at=T0 + timedelta(hours=(i * 3) % 11),
            checked_in_at=(T0 + timedelta(days=9, minutes=(i * 4) % 11)) if status == RegistrationStatus.CONFIRMED and i % 2 == 0 else None,
        ))
    return event, people


def _key(sort, descending):  # type: ignore[no-untyped-def]
    attribute = {"registered": "created_at", "checked_in": "checked_in_at"}.get(sort, sort)

    def key(r):  # type: ignore[no-untyped-def]
        value = getattr(r, attribute)
        if sort == "checked_in":
            # Values first and NULLs last going up; exactly reversed going down.
            return (value is None, value or T0, r.id)
        return (value, r.id)
    return key


def walk(run, event_id, sort, descending, per_page=3, q=""):  # type: ignore[no-untyped-def]
    """Every row, by following Next from the first page; then back by Previous from the last."""
    forward, cursor = [], None
    while True:
        page = run(roster_page, event_id, RosterQuery(q=q, sort=sort, descending=descending, after=cursor, per_page=per_page))
        forward.extend(r.id for r in page.rows)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    backward = []
    page = run(roster_page, event_id, RosterQuery(q=q, sort=sort, descending=descending, last=True, per_page=per_page))
    while True:
        backward[:0] = [r.id for r in page.rows]
        if page.previous_cursor is None:
            break
        page = run(roster_page, event_id, RosterQuery(q=q, sort=sort, descending=descending, before=page.previous_cursor, per_page=per_page))
    return forward, backward


@pytest.mark.parametrize("sort", list(roster.SORTS))
@pytest.mark.parametrize("descending", [False, True])
def test_every_sort_pages_through_every_row_once_in_order(run, crowd, sort, descending):
    event, people = crowd
    expected = [r.id for r in sorted(people, key=_key(sort, descending), reverse=descending)]
    forward, backward = walk(run, event.id, sort, descending)
    assert forward == expected
    assert backward == expected


def test_filter_and_search(run, crowd):
    event, people = crowd
    confirmed = run(roster_page, event.id, RosterQuery(status=RegistrationStatus.CONFIRMED))
    assert {r.id for r in confirmed.rows} == {p.id for p in people if p.status == RegistrationStatus.CONFIRMED}
    assert confirmed.matching == 6
    by_name = run(roster_page, event.id, RosterQuery(q="person c"))
    assert [r.name for r in by_name.rows] == ["Person C"]
    by_email = run(roster_page, event.id, RosterQuery(q="P03@EXAMPLE"))
    assert [r.email for r in by_email.rows] == ["p03@example.org"]
    by_org = run(roster_page, event.id, RosterQuery(q="embassy", status=RegistrationStatus.CONFIRMED))
    assert by_org.rows and all(r.organisation == "Embassy" and r.status == RegistrationStatus.CONFIRMED for r in by_org.rows)
    # Wildcards are searched for literally.
    assert run(roster_page, event.id, RosterQuery(q="%")).matching == 0
    assert run(roster_page, event.id, RosterQuery(q="_")).matching == 0


def test_the_page_shows_counts_chart_and_rows(organiser_client, crowd):
    event, people = crowd
    page = organiser_client.get(f"/admin/events/{event.slug}")
    assert page.status_code == 200
    text = page.text
    assert "<svg" in text and 'class="bar"' in text and "11 registrations over " in text
    assert "style=" not in text[text.index("<svg"):text.index("</svg>")]
    assert all(p.name in text for p in people)
    filtered = organiser_client.get(f"/admin/events/{event.slug}", params={"status": "waitlisted"})
    assert filtered.text.count('name="id"') == 1
    sorted_page = organiser_client.get(f"/admin/events/{event.slug}", params={"sort": "name", "dir": "desc"})
    names = [p.name for p in sorted(people, key=lambda p: p.name, reverse=True)]
    positions = [sorted_page.text.index(f">{n}</a>") for n in names]
    assert positions == sorted(positions)
    assert 'aria-sort="descending"' in sorted_page.text


def test_bad_links_get_a_clear_400(organiser_client, crowd):
    event, _ = crowd
    base = f"/admin/events/{event.slug}"
    for params in ({"sort": "password"}, {"status": "vip"}, {"dir": "up"}, {"after": "not*a*cursor"}, {"after": "eyJ4IjoxfQ"}, {"before": "WzAsWyJ4IiwieSJdXQ"}):
        response = organiser_client.get(base, params=params)
        assert response.status_code == 400, params
        assert "roster" in response.text
    assert organiser_client.get("/admin/events/no-such-event").status_code == 404


def test_a_long_pasted_search_is_cut_to_200_characters_not_refused(organiser_client, make_event, make_registration):
    event = make_event()
    make_registration(event, name="Grace Tan", organisation="x" * 200)
    base = f"/admin/events/{event.slug}"
    page = organiser_client.get(base, params={"q": "x" * 200 + " and the rest of a pasted paragraph"})
    assert page.status_code == 200 and "Grace Tan" in page.text
    assert f'value="{"x" * 200}"' in page.text and 'maxlength="200"' in page.text


def test_pagination_links_work_through_the_page(organiser_client, make_event, make_registration):
    event = make_event(capacity=None)
    for i in range(roster.PER_PAGE + 5):
        make_registration(event, name=f"Person {i:03d}", created_at=T0 + timedelta(minutes=i))
    first = organiser_client.get(f"/admin/events/{event.slug}")
    assert first.text.count('name="id"') == roster.PER_PAGE and 'rel="next"' in first.text and 'rel="prev"' not in first.text
    import re
    next_url = re.search(r'href="([^"]+)" rel="next"', first.text).group(1).replace("&amp;", "&")
    second = organiser_client.get(next_url)
    assert second.text.count('name="id"') == 5 and "Person 054" in second.text and 'rel="prev"' in second.text
    last = organiser_client.get(f"/admin/events/{event.slug}", params={"last": "1"})
    assert "Person 054" in last.text and last.text.count('name="id"') == roster.PER_PAGE


def test_the_chart_groups_by_local_day_and_fills_gaps(run, make_event, make_registration):
    event = make_event(timezone="Asia/Singapore")
    base = utcnow().replace(hour=15, minute=30, second=0, microsecond=0) - timedelta(days=5)  # 23:30 in Singapore
    make_registration(event, created_at=base)
    make_registration(event, created_at=base + timedelta(hours=1))  # 00:30 the next day there
    make_registration(event, created_at=base + timedelta(days=3))
    chart = run(numbers.registrations_chart, event)
    assert chart.unit == "day"
    assert [n for _, n in chart.buckets] == [1, 1, 0, 1]
    assert chart.peak == 1 and chart.total == 3


def test_a_search_counts_its_matches_up_to_a_limit(run, crowd, monkeypatch):
    event, _ = crowd
    monkeypatch.setattr(search, "MAX_COUNT", 4)
    many = run(roster_page, event.id, RosterQuery(q="person", per_page=3))
    assert (many.matching, many.more_than) == (4, True)
    few = run(roster_page, event.id, RosterQuery(q="person a", per_page=3))
    assert (few.matching, few.more_than) == (1, False)


@pytest.mark.parametrize("sort", list(roster.SORTS))
def test_a_search_pages_alike_whether_few_or_many_match(run, crowd, monkeypatch, sort):
    # Few matches are read off the search index and sorted; many, by walking the sort's index.
    event, people = crowd
    ministry = sorted((p for p in people if p.organisation == "Ministry"), key=_key(sort, True), reverse=True)
    expected = [p.id for p in ministry]
    assert walk(run, event.id, sort, True, q="MINISTRY") == (expected, expected)
    monkeypatch.setattr(search, "MAX_COUNT", 2)
    assert walk(run, event.id, sort, True, q="MINISTRY") == (expected, expected)


def test_a_search_matches_within_one_field_never_across_two(run, make_event, make_registration):
    event = make_event()
    grace = make_registration(event, name="Grace Tan", email="gt@example.org", organisation="Maritime Institute")
    minh = make_registration(event, name="Nguyễn Văn Minh", email="minh@example.org", organisation="")

    def found(q):  # type: ignore[no-untyped-def]
        return [r.id for r in run(roster_page, event.id, RosterQuery(q=q)).rows]

    assert found("GRACE tan") == found("maritime inst") == found("GT@EXAMPLE") == [grace.id]
    assert found("NGUYỄN") == found("văn") == [minh.id]
    assert found("example.org") == [grace.id, minh.id]
    # The end of one field and the start of the next are not one piece of text.
    assert found("tan gt") == found("tangt") == found("org maritime") == []
    # A line break (no search box sends one) is looked for field by field.
    assert found("tan\ngt") == []


def test_a_search_finds_a_changed_name(run, make_event, make_registration):
    event = make_event()
    person = make_registration(event, name="Old Name")

    def rename(session):  # type: ignore[no-untyped-def]
        session.get(Registration, person.id).name = "Nadia Ibrahim"

    run(rename)
    assert [r.id for r in run(roster_page, event.id, RosterQuery(q="nadia")).rows] == [person.id]
    assert run(roster_page, event.id, RosterQuery(q="old name")).matching == 0


def test_the_door_finds_confirmed_people_whether_few_or_many_match(run, make_event, make_registration, monkeypatch):
    event = make_event(capacity=None)
    for name in ["Siti Tan", "Grace Tan", "Aisha Rahman", "Budi Tan"]:
        make_registration(event, name=name)
    make_registration(event, name="Wei Tan", status=RegistrationStatus.WAITLISTED)
    few = run(door.check_in_list, event.slug, "TAN")
    assert [p.name for p in few.people] == ["Budi Tan", "Grace Tan", "Siti Tan"] and not few.more
    assert (few.confirmed, few.checked_in) == (4, 0)
    monkeypatch.setattr(search, "MAX_COUNT", 1)
    many = run(door.check_in_list, event.slug, "TAN", limit=2)
    assert [p.name for p in many.people] == ["Budi Tan", "Grace Tan"] and many.more
    assert run(door.check_in_list, event.slug, "nobody").people == []


def test_the_numbers_are_kept_until_the_data_changes(run, make_event, make_registration):
    event = make_event(capacity=None)
    make_registration(event)
    cache = numbers.NumbersCache()
    first = run(cache.numbers, event)
    assert first.counts == {"confirmed": 1} and first.chart.total == 1
    assert run(cache.numbers, event) is first  # nothing changed: not counted again
    make_registration(event, status=RegistrationStatus.WAITLISTED)
    again = run(cache.numbers, event)
    assert again is not first and again.counts == {"confirmed": 1, "waitlisted": 1} and again.chart.total == 2


def test_the_page_shows_new_numbers_after_a_change(organiser_client, make_event, make_registration):
    event = make_event(capacity=None)
    make_registration(event)
    assert "1 registration over " in organiser_client.get(f"/admin/events/{event.slug}").text
    make_registration(event, status=RegistrationStatus.PENDING)
    page = organiser_client.get(f"/admin/events/{event.slug}").text
    assert "2 registrations over " in page and "<dt>Pending</dt><dd>1</dd>" in page


def test_row_links_point_at_each_registration(organiser_client, crowd):
    event, people = crowd
    page = organiser_client.get(f"/admin/events/{event.slug}").text
    for person in people:
        assert f'<a href="http://testserver/admin/registrations/{person.id}">{person.name}</a>' in page
    door = organiser_client.get(f"/admin/events/{event.slug}/check-in").text
    confirmed = [p for p in people if p.status == RegistrationStatus.CONFIRMED]
    for person in confirmed:
        assert f'action="http://testserver/admin/registrations/{person.id}/check-in"' in door
