"""Certificates in public: the verification page (genuine, revoked, unknown; typed codes;
throttled; only what the certificate shows), and the participant's download from the manage
page."""

from __future__ import annotations

import pytest

from portal.registrations import certificates
from portal.registrations.certificates import display_code
from tests.registrations.test_certificates import ISSUER, NOBODY, attend, course, pdf_text  # noqa: F401  (fixtures)


@pytest.fixture
def issued(run, course, make_registration, attend):  # type: ignore[no-untyped-def]  # noqa: F811
    """An event over, with Ada (a certificate) and Bob (none: he came one day of five)."""
    event = course()
    ada = make_registration(event, name="Ada <b>Lovelace</b>", email="ada.private@example.org", organisation="Secret Ministry")
    bob = make_registration(event, name="Bob", email="bob@example.org")
    attend(event, ada, 0, 1, 2, 3, 4)
    attend(event, bob, 0)
    [certificate] = run(certificates.issue, NOBODY, event.slug, None, issuer=ISSUER)
    return {"event": event, "ada": ada, "bob": bob, "certificate": certificate}


def test_a_genuine_certificate_shows_exactly_what_it_shows(client, issued):
    certificate = issued["certificate"]
    response = client.get(f"/certificates/{certificate.code}")
    assert response.status_code == 200
    page = response.text
    assert "Genuine." in page and "it is valid" in page
    assert "Ada &lt;b&gt;Lovelace&lt;/b&gt;" in page and "<b>Lovelace</b>" not in page
    for shown in ("TATC March", "Terrorism Analyst Training Course", certificate.shows["dates"], ISSUER, display_code(certificate.code), "5 of 5 days"):
        assert shown in page, shown
    for day in certificate.shows["days_attended"]:
        assert day in page
    # Nothing the certificate does not show: no address, organisation or private link.
    ada = issued["ada"]
    for hidden in ("ada.private@example.org", "Secret Ministry", ada.token, "/registrations/"):
        assert hidden not in page, hidden
    assert response.headers["cache-control"] == "private, max-age=60"
    assert response.headers["x-robots-tag"] == "noindex, nofollow"
    assert '<meta name="robots" content="noindex, nofollow">' in page


@pytest.mark.parametrize("typed", ["{lower}", "{grouped_lower}", "{spaced}", "{misread}"])
def test_a_code_typed_with_mistakes_is_found(client, issued, typed):
    code = issued["certificate"].code
    variants = {
        "lower": code.lower(),
        "grouped_lower": display_code(code).lower(),
        "spaced": " ".join(display_code(code).split("-")),
        # I and L for 1, O for 0: what people read off a printed code.
        "misread": code.replace("1", "l").replace("0", "O"),
    }
    response = client.get(f"/certificates/{typed.format(**variants)}")
    assert response.status_code == 200 and "Genuine." in response.text


def test_the_find_form_goes_to_the_code_s_page(client, issued):
    code = issued["certificate"].code
    form = client.get("/certificates")
    assert form.status_code == 200 and 'name="code"' in form.text and "<label" in form.text
    sent = client.get("/certificates", params={"code": f" {display_code(code).lower()} "})
    assert sent.status_code == 303 and sent.headers["location"] == f"http://testserver/certificates/{code}"
    wrong = client.get("/certificates", params={"code": "not/a code"})
    assert wrong.status_code == 422 and "is not a certificate code" in wrong.text and 'value="not/a code"' in wrong.text


def test_an_unknown_code_is_a_helpful_404(client, issued):
    response = client.get("/certificates/0000-0000-0000")
    assert response.status_code == 404
    assert "No certificate has this code" in response.text and "0000-0000-0000" in response.text
    assert 'name="code"' in response.text  # a form to type it again
    garbage = client.get("/certificates/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert garbage.status_code == 404 and "<script>alert(1)" not in garbage.text


def test_a_revoked_certificate_says_so_without_the_reason(run, client, issued):
    certificate = issued["certificate"]
    run(certificates.revoke, NOBODY, certificate.id, "Caught sleeping through day two")
    response = client.get(f"/certificates/{certificate.code}")
    assert response.status_code == 200
    assert "Certificate revoked" in response.text and "Not valid." in response.text and "revoked on" in response.text
    assert "Caught sleeping" not in response.text and "Genuine." not in response.text
    assert "replaced by a corrected certificate" not in response.text


def test_a_reissued_certificate_s_old_page_says_it_was_replaced(run, client, issued):
    old = issued["certificate"]
    new = run(certificates.reissue, NOBODY, old.id, "Ada Lovelace", issuer=ISSUER)
    before = client.get(f"/certificates/{old.code}")
    assert "Not valid." in before.text and "replaced by a corrected certificate" in before.text
    assert new.code not in before.text and display_code(new.code) not in before.text
    after = client.get(f"/certificates/{new.code}")
    assert "Genuine." in after.text and "Ada Lovelace" in after.text


def test_verification_is_throttled_per_client(client, issued, monkeypatch):
    monkeypatch.setattr(certificates, "VERIFY_PER_MINUTE", 3)
    code = issued["certificate"].code
    for _ in range(3):
        assert client.get(f"/certificates/{code}").status_code == 200
    refused = client.get(f"/certificates/{code}")
    assert refused.status_code == 429
    assert "try again in" in refused.text and "Ada" not in refused.text
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["cache-control"] == "no-store"


def test_the_manage_page_offers_the_certificate_while_it_is_valid(run, client, issued):
    ada, bob = issued["ada"], issued["bob"]
    page = client.get(f"/registrations/{ada.token}")
    link = f'/registrations/{ada.token}/certificate.pdf"'
    assert link in page.text and "Download your certificate (PDF)" in page.text
    assert "Download your certificate" not in client.get(f"/registrations/{bob.token}").text
    assert client.get(f"/registrations/{bob.token}/certificate.pdf").status_code == 404
    run(certificates.revoke, NOBODY, issued["certificate"].id, "error")
    assert "Download your certificate" not in client.get(f"/registrations/{ada.token}").text
    assert client.get(f"/registrations/{ada.token}/certificate.pdf").status_code == 404


def test_the_participant_downloads_their_certificate(client, issued):
    ada, certificate = issued["ada"], issued["certificate"]
    response = client.get(f"/registrations/{ada.token}/certificate.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'attachment; filename="certificate-{certificate.code}-ada-b-lovelace-b.pdf"'
    assert response.headers["cache-control"] == "no-store"
    text = pdf_text(response.content)
    assert "Ada <b>Lovelace</b>" in text
    assert client.get("/registrations/no-such-token/certificate.pdf").status_code == 404
