"""Liveness and database check for load balancers and monitoring."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.web.plumbing import uow


def _ping(session: Session) -> None:
    session.execute(text("SELECT 1"))


async def healthz(request: Request) -> Response:
    try:
        await uow(request, _ping)
    except SQLAlchemyError:
        return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503, headers={"Cache-Control": "no-store"})
    return JSONResponse({"status": "ok", "database": "ok"}, headers={"Cache-Control": "no-store"})


routes = [Route("/healthz", healthz, name="healthz", methods=["GET", "HEAD"])]
