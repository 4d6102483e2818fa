"""The data keys (PORTAL_DATA_KEY) at start and in rotation: a malformed key is refused by its
place in the list, never quoted; a key that does not open this database's data stops the
app, `portal serve` and `portal worker` before they serve; no key at all makes one under var/
(the owner's only) with a warning; and a new key put first, `portal data rekey`, then the
old key removed, leaves every sealed answer and file readable with the new key alone."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from portal import cli
from portal.app import create_app
from portal.models import DataCanary, Registration, Upload
from portal.sealing import DataKeyError, Keyring, SealedDataError, new_key
from portal.settings import Settings, SettingsError
from tests.conftest import BASE_URL, csrf_from
from tests.registrations.test_sealed_answers import CV_BYTES, FORM, PASSPORT, register_through_the_form

A, B = new_key(), new_key()


def keyed(settings: Settings, *keys: str) -> Settings:
    return replace(settings, data_keys=keys)


def start(settings: Settings) -> TestClient:
    return TestClient(create_app(settings), base_url=BASE_URL, follow_redirects=False)


def command(database_url: str, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    environment.update(PORTAL_DATABASE_URL=database_url, PORTAL_SECRET_KEY="cli-test-secret", PORTAL_BASE_URL="http://testserver", **env)
    return subprocess.run(
        [sys.executable, "-m", "portal.cli", *args], check=False, env=environment, cwd=cwd, capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize(
    ("value", "place"),
    [("not-a-key-at-all", 1), (f"{A},short-{A[:20]}", 2), (f"{A}, {B},", 3), (A[:-4] + "!!!!", 1)],
)
def test_a_malformed_data_key_is_refused_by_its_place_never_quoted(value, place, tmp_path):
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"PORTAL_SECRET_KEY": "s", "PORTAL_DATA_KEY": value}, cwd=tmp_path)
    message = str(info.value)
    assert message.startswith(f"PORTAL_DATA_KEY: key {place} is not a data key")
    assert "portal data new-key" in message
    assert not [part for part in value.split(",") if part.strip() and part.strip() in message]


def test_keys_are_read_newest_first(tmp_path):
    settings = Settings.from_env({"PORTAL_SECRET_KEY": "s", "PORTAL_DATA_KEY": f" {B} ,{A}"}, cwd=tmp_path)
    assert settings.data_keys == (B, A) and not settings.data_key_from_var
    assert not (tmp_path / "var" / "data_key").exists()


def test_without_a_key_one_is_made_under_var_for_the_owner_only_with_a_warning(tmp_path, settings, caplog):
    made = Settings.from_env({"PORTAL_SECRET_KEY": "s"}, cwd=tmp_path / "home")
    path = tmp_path / "home" / "var" / "data_key"
    assert made.data_key_from_var and made.data_keys == (path.read_text().strip(),)
    assert path.stat().st_mode & 0o777 == 0o600
    # Kept: the next start reads the same key.
    assert Settings.from_env({"PORTAL_SECRET_KEY": "s"}, cwd=tmp_path / "home").data_keys == made.data_keys

    with caplog.at_level(logging.WARNING, logger="portal"), start(replace(settings, data_keys=made.data_keys, data_key_from_var=True)):
        pass
    assert any("PORTAL_DATA_KEY is unset" in r.getMessage() and "keep a copy" in r.getMessage() for r in caplog.records)


def test_the_command_line_warns_when_the_key_was_made_under_var(database_url, tmp_path):
    done = command(database_url, tmp_path, "data", "rekey")
    assert done.returncode == 0, done.stderr
    assert "warning: PORTAL_DATA_KEY is unset" in done.stderr and (tmp_path / "var" / "data_key").is_file()


def test_a_wrong_key_stops_the_app_before_it_serves(settings):
    with start(keyed(settings, A)) as client:
        assert client.get("/").status_code == 200
    with pytest.raises(DataKeyError, match="does not open the data this database holds"), start(keyed(settings, B)):
        pass
    # The right key, among others, still starts.
    with start(keyed(settings, B, A)) as client:
        assert client.get("/").status_code == 200


@pytest.mark.parametrize("args", [("serve", "--port", "1"), ("worker", "--once")], ids=["serve", "worker"])
def test_portal_serve_and_worker_exit_with_the_message_on_a_wrong_key(args, settings, database_url, tmp_path):
    with start(keyed(settings, A)):
        pass  # the canary is sealed with A
    done = command(database_url, tmp_path, *args, PORTAL_DATA_KEY=B)
    assert done.returncode != 0
    assert "PORTAL_DATA_KEY does not open the data this database holds" in done.stderr
    assert B not in done.stderr + done.stdout and A not in done.stderr + done.stdout
    assert "Serving the portal" not in done.stderr


@pytest.fixture
def form_event(make_event, make_form):  # type: ignore[no-untyped-def]
    event = make_event()
    make_form(FORM, event=event)
    return event


def all_sealed(sessions, upload_dir: Path) -> tuple[list[str], list[bytes], str]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        answers = [r.sealed_answers for r in session.scalars(select(Registration).order_by(Registration.id))]
        files = [(upload_dir / u.stored_name).read_bytes() for u in session.scalars(select(Upload).order_by(Upload.id))]
        canary = session.scalars(select(DataCanary)).one().token
    return answers, files, canary


def test_rotation_new_key_first_then_rekey_then_the_old_key_goes(
    settings, form_event, sessions, portal_env, monkeypatch, capsys,
):
    # Sealed with A.
    with start(keyed(settings, A)) as client:
        assert register_through_the_form(client, form_event).status_code == 303
    with sessions() as session:
        first = session.scalars(select(Registration)).one()

    # B put first: the old data opens, new data is sealed with B.
    with start(keyed(settings, B, A)) as client:
        assert f'value="{PASSPORT}"' in client.get(f"/registrations/{first.token}").text
        assert client.get(f"/registrations/{first.token}/files/cv").content == CV_BYTES
        page = client.get(f"/events/{form_event.slug}/register")
        data = {"name": "Bo Tan", "email": "bo@example.org", "consent": "y", "passport": "P0000001B", "csrf_token": csrf_from(page.text)}
        assert client.post(f"/events/{form_event.slug}/register", data=data, files={"cv": ("bo.pdf", CV_BYTES, "application/pdf")}).status_code == 303
    answers, files, _ = all_sealed(sessions, settings.upload_directory)
    only_b, only_a = Keyring((B,)), Keyring((A,))
    assert only_a.open_json(answers[0])["passport"] == PASSPORT and only_b.open_json(answers[1])["passport"] == "P0000001B"
    with pytest.raises(SealedDataError):
        only_b.open_json(answers[0])
    with pytest.raises(SealedDataError):
        only_b.open(files[0])

    # portal data rekey, with B first and A still there.
    monkeypatch.setenv("PORTAL_DATA_KEY", f"{B},{A}")
    capsys.readouterr()
    assert cli.main(["data", "rekey"]) == 0
    said = capsys.readouterr().out
    assert "1 registration's sensitive answers and 1 sealed file re-encrypted with the newest key" in said
    assert "may now be removed" in said
    answers, files, canary = all_sealed(sessions, settings.upload_directory)
    assert [only_b.open_json(a)["passport"] for a in answers] == [PASSPORT, "P0000001B"]
    assert [only_b.open(f) for f in files] == [CV_BYTES, CV_BYTES]
    assert only_b.sealed_by_newest(canary.encode()) and not Keyring((A,)).sealed_by_newest(canary.encode())
    # Run again: nothing left to do.
    assert cli.main(["data", "rekey"]) == 0
    assert "0 registrations' sensitive answers and 0 sealed files" in capsys.readouterr().out

    # A removed: B alone opens everything; A alone no longer starts the portal.
    with start(keyed(settings, B)) as client:
        assert f'value="{PASSPORT}"' in client.get(f"/registrations/{first.token}").text
        assert client.get(f"/registrations/{first.token}/files/cv").content == CV_BYTES
    with pytest.raises(DataKeyError), start(keyed(settings, A)):
        pass


def test_rekey_reseals_a_sealed_file_whose_registration_holds_no_sealed_answers(
    settings, form_event, sessions, portal_env, monkeypatch, capsys,
):
    with start(keyed(settings, A)) as client:
        assert register_through_the_form(client, form_event).status_code == 303
    with sessions() as session, session.begin():
        registration = session.scalars(select(Registration)).one()
        # A file question's answers may be all a registration holds sealed... or none of them.
        registration.sealed_answers = None
        token = registration.token
    _, files, _ = all_sealed(sessions, settings.upload_directory)
    assert Keyring((A,)).open(files[0]) == CV_BYTES

    monkeypatch.setenv("PORTAL_DATA_KEY", f"{B},{A}")
    capsys.readouterr()
    assert cli.main(["data", "rekey"]) == 0
    assert "0 registrations' sensitive answers and 1 sealed file re-encrypted" in capsys.readouterr().out

    _, files, _ = all_sealed(sessions, settings.upload_directory)
    with pytest.raises(SealedDataError):
        Keyring((A,)).open(files[0])
    assert Keyring((B,)).open(files[0]) == CV_BYTES
    with sessions() as session:
        stored = session.scalars(select(Upload)).one().stored_name
    assert (settings.upload_directory / stored).stat().st_mode & 0o777 == 0o600
    assert not list(settings.upload_directory.glob("*.new"))
    with start(keyed(settings, B)) as client:
        assert client.get(f"/registrations/{token}/files/cv").content == CV_BYTES
