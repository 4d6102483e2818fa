from __future__ import annotations

from sqlalchemy import Integer
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base


class ChangeMarker(Base):
    """One row whose version every writing transaction bumps: the cheap "has anything
    changed?" that lets each process keep rendered pages and feeds until it has."""

    __tablename__ = "change_marker"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
