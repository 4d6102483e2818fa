from tests.conftest import csrf_from


def test_register_flow(client, make_event, manage_link):
    event = make_event(capacity=1)
    page = client.get(f"/events/{event.slug}/register")
    assert page.status_code == 200
    r = client.post(f"/events/{event.slug}/register", data={"csrf_token": csrf_from(page.text), "name": "Ann Lee", "email": "ann@example.org", "consent": "y"})
    assert r.status_code == 303, r.text
    token = manage_link("ann@example.org")
    m = client.get(f"/registrations/{token}")
    assert "Confirmed" in m.text
