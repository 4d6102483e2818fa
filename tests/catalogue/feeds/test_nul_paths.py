"""NUL bytes in a feed's address never cause a 500, on either engine."""

import pytest


@pytest.mark.parametrize("path", ["/events/%00/calendar.ics", "/programmes/%00/calendar.ics"])
def test_nul_in_the_path_is_not_found(client, path):
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("query", ["programme=%00", "category=%00"])
def test_nul_in_a_feed_filter_is_ignored(client, make_event, query):
    make_event(title="Seen anyway")
    response = client.get(f"/calendar.ics?{query}")
    assert response.status_code == 200
