"""The favicon and the organisation's logo: from PORTAL_BRANDING_DIR (the portal's own
favicon by default), linked from every page, served with a cache header and a safe type."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image
from starlette.testclient import TestClient

from portal.app import create_app
from portal.settings import DEFAULT_BRANDING_DIR, Settings, SettingsError
from tests.conftest import BASE_URL

LOGO_SVG = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><script>alert(1)</script><rect width="10" height="10"/></svg>'


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 2), "navy").save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def branded(settings: Settings, tmp_path: Path):  # type: ignore[no-untyped-def]
    """branded(files): a client of a portal whose branding directory holds `files`."""
    opened = []

    def _make(files: dict[str, bytes]) -> TestClient:
        directory = tmp_path / "branding"
        directory.mkdir()
        for name, content in files.items():
            (directory / name).write_bytes(content)
        client = TestClient(create_app(replace(settings, branding_dir=directory)), base_url=BASE_URL, follow_redirects=False)
        opened.append(client.__enter__())
        return client

    yield _make
    for client in opened:
        client.__exit__(None, None, None)


def header_of(html: str) -> str:
    return html.split('<header class="site-header">', 1)[1].split("</header>", 1)[0]


@pytest.mark.parametrize("path", ["/", "/events", "/programmes", "/admin/sign-in", "/events/no-such-event"])
def test_every_page_links_the_favicon(client, path):
    html = client.get(path).text
    icons = re.findall(r'<link rel="icon" href="([^"]+)"', html)
    assert [icon.split("?")[0] for icon in icons] == ["/favicon.ico", "/branding/favicon.svg"]
    for icon in icons:
        assert client.get(icon).status_code == 200
    # No logo set: the site's name, as text.
    assert "<strong>RSIS Events</strong>" in header_of(html) and "<img" not in header_of(html)


def test_favicon_ico_answers_with_the_portals_own_cached(client):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"] == "image/x-icon"
    assert icon.content == (DEFAULT_BRANDING_DIR / "favicon.ico").read_bytes()
    assert icon.headers["cache-control"] == "public, max-age=86400"
    assert icon.headers["x-content-type-options"] == "nosniff"
    again = client.get("/favicon.ico", headers={"If-None-Match": icon.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert client.head("/favicon.ico").status_code == 200


def test_an_svg_is_served_as_an_image_under_a_policy_that_runs_no_script(branded):
    client = branded({"logo.svg": LOGO_SVG})
    logo = client.get("/branding/logo.svg")
    assert logo.status_code == 200 and logo.content == LOGO_SVG
    assert logo.headers["content-type"] == "image/svg+xml"
    policy = logo.headers["content-security-policy"]
    assert "sandbox" in policy.split("; ") and "allow-scripts" not in policy and "'unsafe-inline'" not in policy
    assert client.get("/branding/favicon.svg").headers["content-security-policy"] == policy


def test_a_configured_logo_is_shown_in_the_header_with_alt_text(branded):
    client = branded({"logo.png": png()})
    header = header_of(client.get("/events").text)
    src = re.search(r'<img class="brand-logo" src="([^"]+)" alt="RSIS Events">', header)
    assert src is not None and src.group(1).startswith("/branding/logo.png?v=")
    assert "<strong>RSIS Events</strong>" not in header
    logo = client.get(src.group(1))
    assert logo.status_code == 200 and logo.headers["content-type"] == "image/png" and logo.content == png()
    # The directory has no favicon: the portal's own stays.
    assert client.get("/favicon.ico").content == (DEFAULT_BRANDING_DIR / "favicon.ico").read_bytes()


def test_a_configured_svg_favicon_alone_answers_favicon_ico_too(branded):
    icon = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><rect width="1" height="1"/></svg>'
    client = branded({"favicon.svg": icon})
    answer = client.get("/favicon.ico")
    assert answer.status_code == 200 and answer.content == icon and answer.headers["content-type"] == "image/svg+xml"
    icons = re.findall(r'<link rel="icon" href="([^"]+)"', client.get("/").text)
    assert [i.split("?")[0] for i in icons] == ["/branding/favicon.svg"]


@pytest.mark.parametrize("path", ["/branding/settings.py", "/branding/logo.svg", "/branding/..%2Fcss%2Fportal.css", "/branding/"])
def test_only_the_known_files_are_served(client, path):
    assert client.get(path).status_code == 404


def test_a_missing_branding_directory_is_a_clear_settings_error(tmp_path):
    with pytest.raises(SettingsError, match=r"PORTAL_BRANDING_DIR .*nowhere.* is not a directory"):
        Settings.from_env(environ={"PORTAL_BRANDING_DIR": "nowhere"}, cwd=tmp_path)
    (tmp_path / "brand").mkdir()
    assert Settings.from_env(environ={"PORTAL_BRANDING_DIR": "brand"}, cwd=tmp_path).branding_dir == tmp_path / "brand"
    assert Settings.from_env(environ={}, cwd=tmp_path).branding_dir == DEFAULT_BRANDING_DIR


@pytest.mark.parametrize(("name", "content", "words"), [
    ("logo.png", b"<html>not a picture</html>", "logo.png is not a PNG file"),
    ("logo.svg", b"GIF89a", "logo.svg is not an SVG file"),
    ("favicon.ico", png(), "favicon.ico is not an ICO file"),
    ("logo.png", b"\x89PNG\r\n\x1a\n" + b"0" * 600_000, "logo.png is 600,008 bytes"),
])
def test_a_file_that_is_not_what_its_name_says_stops_the_start(settings, tmp_path, name, content, words):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(SettingsError, match=re.escape(words)):
        create_app(replace(settings, branding_dir=tmp_path))


def test_the_favicon_answers_304_to_a_list_or_a_weak_tag(client):
    """If-None-Match as browsers and caches send it: several tags, or the tag made weak."""
    first = client.get("/favicon.ico")
    etag = first.headers["etag"]
    for header in (etag, f'"other", {etag}', f"W/{etag}", "*"):
        assert client.get("/favicon.ico", headers={"If-None-Match": header}).status_code == 304, header
    assert client.get("/favicon.ico", headers={"If-None-Match": '"other"'}).status_code == 200
