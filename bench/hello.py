"""The yardstick: a bare Starlette "hello" endpoint, served by the same uvicorn settings as
the portal, so every figure in bench/README.md is a ratio measured in the same run."""

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def hello(request):  # type: ignore[no-untyped-def]
    return PlainTextResponse("hello")


app = Starlette(routes=[Route("/", hello)])
