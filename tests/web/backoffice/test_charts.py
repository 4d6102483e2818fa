"""The event page's and the dashboard's charts: SVG drawn on the server that says itself in words
and keeps its numbers in a table."""

from __future__ import annotations

from datetime import timedelta

from lxml import html

from portal.db import utcnow
from portal.models import RegistrationStatus

# 04:00 UTC is noon in Singapore (the events' zone): days there are the days here.
DAY0 = (utcnow() - timedelta(days=6)).replace(hour=4, minute=0, second=0, microsecond=0)


def _chart(page_text: str):  # type: ignore[no-untyped-def]
    tree = html.fromstring(page_text)
    figure, = tree.xpath('//div[@class="chart"]')
    return tree, figure


def test_the_event_chart_says_in_words_and_in_a_table_what_it_draws(organiser_client, make_event, make_registration):
    event = make_event(capacity=3, timezone="Asia/Singapore")
    for at, status in [(DAY0, "confirmed"), (DAY0 + timedelta(minutes=5), "confirmed"),
                       (DAY0 + timedelta(days=2), "cancelled"), (DAY0 + timedelta(days=2, hours=1), "confirmed")]:
        make_registration(event, created_at=at, status=RegistrationStatus(status))
    page = organiser_client.get(f"/admin/events/{event.slug}")
    assert page.status_code == 200
    tree, figure = _chart(page.text)
    svg, = figure.xpath(".//svg")
    assert svg.get("role") == "img" and svg.get("aria-labelledby") == "chart-title chart-desc"
    assert svg.get("viewbox") == "0 0 640 340" and svg.get("width") == "100%"
    assert "style" not in html.tostring(svg).decode()
    title, = tree.xpath('//*[@id="chart-title"]')
    desc, = tree.xpath('//*[@id="chart-desc"]')
    assert title.text_content() == "Registrations per day and in all, against capacity"
    third = (DAY0 + timedelta(days=2)).strftime("%-d %b %Y")
    assert desc.text_content() == (
        f"4 registrations over 3 days; 3 seats; registrations made reached the 3 seats on {third}; "
        "3 confirmed now (cancelled registrations are counted on the day they were made)."
    )
    assert "Capacity 3" in svg.text_content()
    assert len(svg.xpath('.//rect[@class="bar"]')) == 3
    assert [t.text_content() for t in svg.xpath('.//text[@class="chart-value"]')] == ["2", "2"]
    summary, = figure.xpath(".//details/summary")
    assert summary.text_content() == "The numbers"
    rows = [[c.text_content() for c in tr] for tr in figure.xpath(".//details//tbody/tr")]
    days = [(DAY0 + timedelta(days=i)).strftime("%a %-d %b %Y") for i in range(3)]
    assert rows == [[days[0], "2", "2"], [days[1], "0", "2"], [days[2], "2", "4 (capacity reached)"]]
    foot, = figure.xpath(".//details//tfoot/tr")
    assert [c.text_content() for c in foot] == ["Confirmed now", "3 of 3"]


def test_the_event_chart_with_no_registrations_or_no_limit_says_so(organiser_client, make_event, make_registration):
    empty = make_event(capacity=40)
    _, figure = _chart(organiser_client.get(f"/admin/events/{empty.slug}").text)
    assert not figure.xpath(".//svg") and not figure.xpath(".//details")
    assert figure.xpath(".//figcaption")[0].text_content().startswith("No registrations yet; 40 seats; 0 confirmed now")
    open_event = make_event(capacity=None)
    make_registration(open_event, created_at=DAY0)
    _, figure = _chart(organiser_client.get(f"/admin/events/{open_event.slug}").text)
    svg, = figure.xpath(".//svg")
    assert not svg.xpath('.//line[@class="chart-capacity"]') and "Capacity" not in svg.text_content()
    assert "1 registration over 1 day; no limit on seats, so no capacity line" in figure.xpath(".//desc")[0].text_content()


def test_the_dashboard_draws_each_upcoming_events_seats(organiser_client, make_event, make_registration):
    half = make_event(title="Half full", capacity=4)
    make_registration(half, status=RegistrationStatus.CONFIRMED)
    make_registration(half, status=RegistrationStatus.CONFIRMED)
    make_registration(half, status=RegistrationStatus.CANCELLED)
    open_event = make_event(title="Open <door>", capacity=None)
    make_registration(open_event, status=RegistrationStatus.CONFIRMED)
    page = organiser_client.get("/admin/")
    assert page.status_code == 200
    assert "Open &lt;door&gt;" in page.text and "Open <door>" not in page.text
    tree = html.fromstring(page.text)
    figure, = tree.xpath('//figure[@class="chart"]')
    svgs = figure.xpath(".//svg")
    assert [s.get("role") for s in svgs] == ["img", "img"]
    names = {}
    for svg in svgs:
        title_id, desc_id = svg.get("aria-labelledby").split()
        names[tree.get_element_by_id(title_id).text_content()] = tree.get_element_by_id(desc_id).text_content()
    assert names == {
        "Half full": "Half full: 2 of 4 seats confirmed; 3 registrations made.",
        "Open <door>": "Open <door>: 1 confirmed, no limit on seats; 1 registration made.",
    }
    half_svg = svgs[list(names).index("Half full")]
    assert half_svg.xpath('.//rect[@class="seat-confirmed"]')[0].get("width") == "150.0"
    assert half_svg.xpath('.//rect[@class="seat-made"]')[0].get("width") == "225.0"
    assert not svgs[1].xpath('.//rect[@class="seat-track"]')  # no limit: no track to fill
    rows = [[c.text_content() for c in tr] for tr in figure.xpath(".//details//tbody/tr")]
    assert rows == [["Half full", "3", "2", "4"], ["Open <door>", "1", "1", "no limit"]]
