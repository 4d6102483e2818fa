"""Organiser accounts: the `portal organiser add` command and the admins' page."""

from __future__ import annotations

import io

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from portal import cli
from portal.models import AuditEntry, Organiser
from tests.web.backoffice.conftest import post, sign_in


def account(sessions, email):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return session.scalar(select(Organiser).where(Organiser.email == email))


def test_organiser_add_reads_the_password_from_stdin(portal_env, monkeypatch, sessions, capsys, client):
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert cli.main(["organiser", "add", "Grace@Example.org", "--admin", "--name", "Grace Tan", "--password-stdin"]) == 0
    assert "added admin grace@example.org" in capsys.readouterr().out
    grace = account(sessions, "grace@example.org")
    assert grace.is_admin and grace.active and grace.name == "Grace Tan"
    assert grace.password_hash.startswith("$argon2id$")
    assert PasswordHasher().verify(grace.password_hash, "a long enough password")
    assert sign_in(client, "grace@example.org", "a long enough password").status_code == 303


def test_organiser_add_refuses_a_short_password_or_a_taken_address(portal_env, monkeypatch, sessions, capsys, organiser):
    monkeypatch.setattr("sys.stdin", io.StringIO("too short\n"))
    assert cli.main(["organiser", "add", "new@example.org", "--password-stdin"]) == 2
    assert "at least 12 characters" in capsys.readouterr().err
    assert account(sessions, "new@example.org") is None
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert cli.main(["organiser", "add", organiser.email, "--password-stdin"]) == 2
    assert "already an organiser account" in capsys.readouterr().err


def test_organiser_add_asks_twice(portal_env, monkeypatch, sessions):
    answers = iter(["a long enough password", "a long enough password"])
    monkeypatch.setattr(cli.getpass, "getpass", lambda prompt="": next(answers))
    assert cli.main(["organiser", "add", "lin@example.org"]) == 0
    assert not account(sessions, "lin@example.org").is_admin
    differ = iter(["a long enough password", "another long password"])
    monkeypatch.setattr(cli.getpass, "getpass", lambda prompt="": next(differ))
    with pytest.raises(SystemExit, match="differ"):
        cli.main(["organiser", "add", "kim@example.org"])
    assert account(sessions, "kim@example.org") is None


def test_admins_add_and_change_organisers(admin_client, client, admin, sessions):
    data = {"email": "new.person@example.org", "name": "New Person", "password": "their first password"}
    response = post(admin_client, "/admin/organisers", data, token_from="/admin/organisers")
    assert response.status_code == 303
    listing = admin_client.get("/admin/organisers").text
    assert "Added new.person@example.org" in listing and "New Person" in listing
    newcomer = account(sessions, "new.person@example.org")
    assert not newcomer.is_admin

    assert post(admin_client, "/admin/organisers", data, token_from="/admin/organisers").status_code == 409
    short = post(admin_client, "/admin/organisers", dict(data, email="x@example.org", password="short"), token_from="/admin/organisers")
    assert short.status_code == 422 and "at least 12 characters" in short.text

    post(admin_client, f"/admin/organisers/{newcomer.id}", {"change": "make_admin"}, token_from="/admin/organisers")
    assert account(sessions, newcomer.email).is_admin
    post(admin_client, f"/admin/organisers/{newcomer.id}", {"change": "deactivate"}, token_from="/admin/organisers")
    assert not account(sessions, newcomer.email).active
    assert sign_in(client, newcomer.email, "their first password").status_code == 401
    post(admin_client, f"/admin/organisers/{newcomer.id}", {"change": "reactivate"}, token_from="/admin/organisers")
    assert sign_in(client, newcomer.email, "their first password").status_code == 303

    with sessions() as session:
        actions = list(session.scalars(select(AuditEntry.action).where(AuditEntry.organiser_id == admin.id).order_by(AuditEntry.id)))
    assert actions == ["organiser.add", "organiser.make_admin", "organiser.deactivate", "organiser.reactivate"]


def test_an_admin_cannot_lock_themselves_out(admin_client, admin, sessions):
    response = post(admin_client, f"/admin/organisers/{admin.id}", {"change": "deactivate"}, token_from="/admin/organisers")
    assert "ask another admin" in admin_client.get(response.headers["location"]).text
    post(admin_client, f"/admin/organisers/{admin.id}", {"change": "remove_admin"}, token_from="/admin/organisers")
    me = account(sessions, admin.email)
    assert me.active and me.is_admin
    assert post(admin_client, "/admin/organisers/9999", {"change": "deactivate"}, token_from="/admin/organisers").status_code == 404
    assert post(admin_client, f"/admin/organisers/{admin.id}", {"change": "explode"}, token_from="/admin/organisers").status_code == 400
