"""The data keys against the database: proving at start that PORTAL_DATA_KEY opens what
this database holds (a canary sealed on the first start), and `portal data rekey`, which
re-seals every sensitive answer and sealed upload with the newest key so that older keys
can be dropped."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import DataCanary, Registration
from portal.sealing import DataKeyError, Keyring, SealedDataError, keyring_of

# What the canary holds once opened.
_CANARY = b"portal data key check"


def check_keyring(session: Session, keyring: Keyring | None = None) -> None:
    """Prove the keys open this database's sealed data, or raise DataKeyError saying what to
    do. The first check on a database leaves a canary sealed with the newest key."""
    keyring = keyring or keyring_of(session)
    canary = session.scalar(select(DataCanary).order_by(DataCanary.id).limit(1))
    if canary is None:
        session.add(DataCanary(token=keyring.seal(_CANARY).decode("ascii"), created_at=utcnow()))
        session.flush()
        return
    try:
        opened = keyring.open(canary.token.encode("ascii"))
    except SealedDataError:
        opened = b""
    if opened != _CANARY:
        raise DataKeyError(
            "PORTAL_DATA_KEY does not open the data this database holds: set it to the key (or keys, "
            "newest first, comma-separated) its sensitive answers were sealed with. If var/data_key was "
            "just made, this machine never had the key: copy it from where the portal ran before."
        )


@dataclass(frozen=True)
class Rekeyed:
    answers: int
    files: int

    def __str__(self) -> str:
        whose = "registration's" if self.answers == 1 else "registrations'"
        return (
            f"{self.answers} {whose} sensitive answers and "
            f"{self.files} sealed file{'' if self.files == 1 else 's'} re-encrypted with the newest key"
        )


def rekey_batch(session: Session, *, after_id: int, batch: int = 200) -> tuple[Rekeyed, int | None]:
    """Re-seal one batch of registrations' sensitive answers (ids above `after_id`) with the
    newest key; returns the counts and the last id, None when done. Each batch is its own
    transaction, so a rekey stopped half-way is resumed by running it again: a value already
    sealed by the newest key is left as it is. Sealed files have their own batches
    (portal.registrations.uploads.rekey_files_batch): a registration may hold one without
    any sealed answer."""
    keyring = keyring_of(session)
    rows = session.scalars(
        select(Registration).where(Registration.id > after_id, Registration.sealed_answers.is_not(None)).order_by(Registration.id).limit(batch)
    ).all()
    answers = 0
    for registration in rows:
        token = (registration.sealed_answers or "").encode("ascii")
        if not keyring.sealed_by_newest(token):
            registration.sealed_answers = keyring.reseal(token).decode("ascii")
            answers += 1
    canary = session.scalar(select(DataCanary).order_by(DataCanary.id).limit(1))
    if canary is not None and not keyring.sealed_by_newest(canary.token.encode("ascii")):
        canary.token = keyring.reseal(canary.token.encode("ascii")).decode("ascii")
    session.flush()
    return Rekeyed(answers, 0), (rows[-1].id if len(rows) == batch else None)
