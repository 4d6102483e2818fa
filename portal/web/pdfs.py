"""Certificates as PDF files, for the participant's and the organisers' downloads alike:
drawn in the thread pool (a page of shaped text takes some milliseconds), always sent as a
download."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from portal.documents.certificates import certificate_pdf
from portal.registrations.certificates import CertificateFile
from portal.web.plumbing import site


async def send_certificate(request: Request, file: CertificateFile, headers: dict[str, str] | None = None) -> Response:
    """The certificate's PDF, its QR code pointing at its public page."""
    verify_url = site(request).url("verify_certificate", code=file.code)
    pdf = await run_in_threadpool(certificate_pdf, file.shows, file.code, verify_url)
    return Response(
        pdf, media_type="application/pdf",
        headers={**(headers or {}), "Content-Disposition": f'attachment; filename="{file.filename}"', "X-Content-Type-Options": "nosniff"},
    )
