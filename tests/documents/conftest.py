"""The back office's organiser fixtures, for the tests here that download badges."""

from tests.web.backoffice.conftest import _quick_hashing, admin, admin_client, make_organiser, organiser, organiser_client  # noqa: F401
