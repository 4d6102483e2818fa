"""An event's name badges: whose they are, what each shows, and the three ways to get them (the
service, `portal export badges`, the back office's download). Both database engines."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal import cli
from portal.documents import fonts
from portal.documents.badges import LAYOUTS
from portal.errors import InvalidInput, NotFound
from portal.models import Registration, RegistrationStatus
from portal.registrations.tickets import payload
from portal.rosters.badges import BadgeSelection, event_badges
from tests.documents.reading import SIX_SCRIPTS, contains, page_sizes, page_texts, qr_texts

S = RegistrationStatus
FORM = [
    {"key": "rank", "type": "text", "label": "Rank", "max_length": 100},
    {"key": "nationality", "type": "country", "label": "Nationality"},
    {"key": "dietary", "type": "choice", "label": "Dietary requirement",
     "choices": [{"value": "none", "label": "None"}, {"value": "halal", "label": "Halal"}]},
]


@pytest.fixture
def demo(make_event, make_registration, make_form):  # type: ignore[no-untyped-def]
    """A demo-like event with names in six scripts, confirmed, and three people not confirmed."""
    event = make_event(slug="appsmo-2026", title="Asia-Pacific Programme for Senior Military Officers 2026")
    make_form(FORM, event=event)
    people = {
        script: make_registration(
            event, name=name, organisation=f"{script} Ministry of Defence", checkin_code=f"{i:010d}" if i else None,
            answers={"rank": "Colonel", "nationality": "Singapore", "dietary": "halal" if i % 2 else "none"},
        )
        for i, (script, name) in enumerate(sorted(SIX_SCRIPTS.items()))
    }
    others = [
        make_registration(event, name="Wendy Waiting", status=S.WAITLISTED),
        make_registration(event, name="Pat Pending", status=S.PENDING, confirmed_at=None),
        make_registration(event, name="Carl Cancelled", status=S.CANCELLED),
    ]
    return event, people, others


def test_the_confirmed_by_name_with_role_line_and_ticket(run, sessions, demo):
    event, people, _ = demo
    found = run(event_badges, event.slug)
    with sessions() as session:
        rows = {r.name: r for r in session.scalars(select(Registration).where(Registration.event_id == event.id))}
    assert sorted(b.name for b in found.badges) == sorted(SIX_SCRIPTS.values())
    for badge in found.badges:
        row = rows[badge.name]
        assert badge.organisation == row.organisation
        assert badge.role == "Colonel · Singapore"
        assert badge.event == event.title
        # The one placed without a code was given one, kept, and it is on the badge.
        assert row.checkin_code and badge.ticket == payload(row.checkin_code)
    assert found.filename("a4") == "badges-appsmo-2026.pdf" and found.filename("single") == "badges-appsmo-2026-single.pdf"


def test_badges_are_in_name_order(run, make_event, make_registration):
    event = make_event()
    for name in ("Zed", "Amy", "Mo"):
        make_registration(event, name=name)
    assert [b.name for b in run(event_badges, event.slug).badges] == ["Amy", "Mo", "Zed"]


def test_a_chosen_part_of_the_roster(run, demo):
    event, people, _ = demo
    waiting = run(event_badges, event.slug, BadgeSelection(status=S.WAITLISTED)).badges
    assert [(b.name, b.ticket) for b in waiting] == [("Wendy Waiting", None)]  # no ticket until confirmed
    everyone = run(event_badges, event.slug, BadgeSelection(status=None)).badges
    assert len(everyone) == 9 and sum(b.ticket is not None for b in everyone) == 6
    halal = run(event_badges, event.slug, BadgeSelection(question="dietary", answer="halal")).badges
    assert sorted(b.name for b in halal) == sorted(p.name for p in people.values() if p.answers["dietary"] == "halal")
    searched = run(event_badges, event.slug, BadgeSelection(q="cyrillic ministry")).badges
    assert [b.name for b in searched] == [SIX_SCRIPTS["Cyrillic"]]


def test_the_role_line_follows_the_form(run, make_event, make_registration, make_form):
    event = make_event()
    make_form([{"key": "role", "type": "choice", "label": "You are", "choices": [{"value": "spk", "label": "Speaker"}]},
               {"key": "country", "type": "text", "label": "Country"}], event=event)
    make_registration(event, name="A", answers={"role": "spk", "country": "Viet Nam"})
    make_registration(event, name="B", answers={"country": "Thailand"})
    make_registration(event, name="C", answers={"role": ["not", "text"], "country": 7})
    assert [b.role for b in run(event_badges, event.slug).badges] == ["Speaker · Viet Nam", "Thailand", ""]
    plain = make_event()
    make_registration(plain, name="D", answers={"country": "Japan"})  # the site's form asks no country
    assert [b.role for b in run(event_badges, plain.slug).badges] == [""]


def test_one_download_draws_at_most_so_many_and_the_command_line_any(run, demo):
    slug = demo[0].slug
    with pytest.raises(InvalidInput, match="more than 5 badges for one download"):
        run(event_badges, slug, most=5)
    assert len(run(event_badges, slug, most=6).badges) == 6
    assert len(run(event_badges, slug, most=None).badges) == 6


def test_no_such_event_or_nobody_to_print(run, make_event, make_registration):
    with pytest.raises(NotFound):
        run(event_badges, "no-such-event")
    event = make_event()
    make_registration(event, status=S.WAITLISTED)
    with pytest.raises(InvalidInput, match="no confirmed registration"):
        run(event_badges, event.slug)


# --- the command line ---------------------------------------------------------------------


def test_the_command_line_writes_the_badges(demo, portal_env, capsys):
    event, _, _ = demo
    assert cli.main(["export", "badges", event.slug]) == 0
    assert "wrote 6 badges to badges-appsmo-2026.pdf" in capsys.readouterr().err
    pdf = (portal_env / "badges-appsmo-2026.pdf").read_bytes()
    assert page_sizes(pdf) == [(210.0, 297.0)]
    for name in SIX_SCRIPTS.values():
        assert contains(page_texts(pdf)[0], name), name
    assert len(qr_texts(pdf)) == 6
    assert cli.main(["export", "badges", event.slug, "--layout", "single", "-o", "one-a-page.pdf"]) == 0
    assert page_sizes((portal_env / "one-a-page.pdf").read_bytes()) == [(101.6, 76.2)] * 6


def test_the_command_line_writes_to_standard_output(demo, portal_env, capsysbinary):
    event, _, _ = demo
    assert cli.main(["export", "badges", event.slug, "-o", "-"]) == 0
    assert capsysbinary.readouterr().out.startswith(b"%PDF-")


def test_the_command_line_explains_what_went_wrong(make_event, portal_env, capsys, monkeypatch, tmp_path, demo):
    assert cli.main(["export", "badges", "no-such-event", "-o", "x.pdf"]) == 2
    assert "no-such-event" in capsys.readouterr().err
    empty = make_event()
    assert cli.main(["export", "badges", empty.slug]) == 2
    assert "no badges to print" in capsys.readouterr().err
    monkeypatch.setattr(fonts, "CORE_DIR", tmp_path / "nowhere")
    assert cli.main(["export", "badges", demo[0].slug, "-o", "x.pdf"]) == 2
    assert "apt-get install fonts-noto-core" in capsys.readouterr().err
    assert not (portal_env / "x.pdf").exists()


def test_the_command_line_offers_every_layout(capsys):
    for layout in LAYOUTS:
        assert cli.build_parser().parse_args(["export", "badges", "x", "--layout", layout]).layout == layout
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["export", "badges", "x", "--layout", "letter"])
    assert "invalid choice: 'letter'" in capsys.readouterr().err


# --- the back office ---------------------------------------------------------------------


def test_the_event_page_offers_the_badges(organiser_client, demo):
    event, _, _ = demo
    page = organiser_client.get(f"/admin/events/{event.slug}?q=thai")
    assert page.status_code == 200
    assert "Name badges (PDF)" in page.text
    assert f'action="http://testserver/admin/events/{event.slug}/badges.pdf"' in page.text
    assert '<input type="hidden" name="q" value="thai">' in page.text


def test_an_organiser_downloads_the_badges(organiser_client, demo):
    event, _, _ = demo
    response = organiser_client.get(f"/admin/events/{event.slug}/badges.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == 'attachment; filename="badges-appsmo-2026.pdf"'
    assert response.headers["cache-control"] == "no-store" and response.headers["x-content-type-options"] == "nosniff"
    assert page_sizes(response.content) == [(210.0, 297.0)]
    assert len(qr_texts(response.content)) == 6
    single = organiser_client.get(f"/admin/events/{event.slug}/badges.pdf?layout=single&status=waitlisted")
    assert single.headers["content-disposition"] == 'attachment; filename="badges-appsmo-2026-single.pdf"'
    assert page_sizes(single.content) == [(101.6, 76.2)]
    assert "Wendy Waiting" in page_texts(single.content)[0] and qr_texts(single.content) == []


@pytest.mark.parametrize("query", ["layout=letter", "status=gone", "question=Bad-Key&answer=x", "question=nosuch&answer=x"])
def test_a_bad_badges_link_is_refused(organiser_client, demo, query):
    response = organiser_client.get(f"/admin/events/{demo[0].slug}/badges.pdf?{query}")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")


def test_nobody_to_print_and_no_such_event(organiser_client, make_event):
    event = make_event()
    empty = organiser_client.get(f"/admin/events/{event.slug}/badges.pdf?status=waitlisted", follow_redirects=False)
    # Back to the event page, which says why there is no PDF.
    assert empty.status_code == 303 and empty.headers["location"].endswith(f"/admin/events/{event.slug}")
    page = organiser_client.get(empty.headers["location"])
    assert page.status_code == 200 and "No one matches: no badges to print" in page.text
    assert "Please check what you sent" not in page.text and event.title in page.text
    assert organiser_client.get("/admin/events/no-such-event/badges.pdf").status_code == 404


def test_missing_fonts_are_a_clear_page(organiser_client, demo, monkeypatch, tmp_path):
    monkeypatch.setattr(fonts, "CORE_DIR", tmp_path)
    response = organiser_client.get(f"/admin/events/{demo[0].slug}/badges.pdf")
    assert response.status_code == 503
    assert "fonts-noto-core" in response.text


def test_only_organisers_get_the_badges(client, demo):
    response = client.get(f"/admin/events/{demo[0].slug}/badges.pdf")
    assert response.status_code == 401
    assert "%PDF" not in response.text
