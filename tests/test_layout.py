"""The house rules that keep the code readable as it grows (README, "Design")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from starlette.datastructures import Secret
from starlette.routing import Route

from portal.app import create_app
from portal.settings import Settings
from portal.site import PATHS, Site

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 500


def test_no_module_passes_500_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for path in sorted((ROOT / "portal").rglob("*.py"))
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"split these modules (at most {MAX_LINES} lines each): {long}"


def test_the_import_contracts_hold() -> None:
    """lint-imports with the contracts in pyproject.toml: floors, no cycles, the public site
    and the back office apart, no HTTP or WTForms in the domain."""
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Route]:
    home = tmp_path_factory.mktemp("layout")
    app = create_app(Settings(database_url=f"sqlite:///{home / 'portal.db'}", secret_key=Secret("layout"), var_dir=home))
    return {route.name: route for route in app.routes if isinstance(route, Route)}


@pytest.mark.parametrize("name", sorted(PATHS))
def test_links_that_services_write_are_the_routes_that_answer_them(routes: dict[str, Route], name: str) -> None:
    """An email's or a feed's link (site.Site) and the route table come from the same PATHS:
    same name, same path, same URL."""
    assert name in routes, f"{name} is in site.PATHS but no public route has that name"
    route = routes[name]
    assert route.path == PATHS[name]
    params = {key: "a-b_9" for key in route.param_convertors}
    site = Site(base_url="https://events.example.org")
    assert site.url(name, **params) == "https://events.example.org" + route.url_path_for(name, **params)
