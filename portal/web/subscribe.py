"""Subscribing by email to new events: the form, the page after it, confirming, the
preferences behind the private link, and leaving (with RFC 8058's one-click POST).

A GET never changes anything: mail filters fetch the links in emails to scan them, so the
confirmation and the unsubscribe links each open a page with a button. The pages behind a
token are private (never kept by a cache, never indexed); an unknown token is a 404 that
says the link is no longer valid.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal.errors import NotFound
from portal.forms.subscriptions import PreferencesForm, SubscribeForm
from portal.registrations.limits import RegistrationLimits, TooManyRequests
from portal.subscriptions import service
from portal.subscriptions.service import GONE, SubscriptionProblem
from portal.web.csrf import read_form, read_unsubscribe_form
from portal.web.params import text_param
from portal.web.plumbing import PRIVATE, public_route, render, site, uow
from portal.web.security import client_address


def _weekday(request: Request) -> int:
    return request.app.state.settings.digest_weekday


def _gone(request: Request) -> Response:
    return render(request, "error.html", {"title": "Link no longer valid", "message": GONE}, status_code=404, headers=PRIVATE)


async def subscribe(request: Request) -> Response:
    available = await uow(request, service.choices)
    options = {"programmes": available.programmes, "categories": available.categories, "digest_weekday": _weekday(request)}
    if request.method != "POST":
        # Prefilled from the listing's filters (?programme=&category=), when they name a choice.
        programme, category = text_param(request, "programme"), text_param(request, "category")
        data = {
            "programmes": [programme] if programme in {code for code, _ in available.programmes} else [],
            "categories": [category] if category in available.categories else [],
        }
        return render(request, "public/subscribe.html", {"form": SubscribeForm(data=data, **options), "problem": None})
    form = SubscribeForm(await read_form(request), **options)
    if form["website"].data:
        # The honeypot was filled in: a bot. Answer as if it worked; send nothing.
        return RedirectResponse(request.url_for("subscribed"), status_code=303)
    problem, status, headers = None, 422, None
    if form.validate():
        settings = request.app.state.settings
        allowed = RegistrationLimits(settings.registrations_per_ip_per_minute, settings.registrations_per_email_per_minute)
        try:
            await uow(
                request, service.request_subscription, site(request), form["email"].data or "", **form.choices(),
                client=client_address(request), limits=allowed, digest_weekday=_weekday(request), write=True,
            )
        except SubscriptionProblem as exc:
            form[exc.field].errors = [*form[exc.field].errors, exc.message]
        except TooManyRequests as exc:
            problem, status, headers = exc.message, 429, {"Retry-After": str(exc.retry_after)}
        else:
            # The same page whether the address was new, waiting or subscribed already.
            return RedirectResponse(request.url_for("subscribed"), status_code=303)
    return render(request, "public/subscribe.html", {"form": form, "problem": problem}, status_code=status, headers=headers)


async def subscribed(request: Request) -> Response:
    return render(request, "public/subscribe_sent.html", headers=PRIVATE)


async def confirm_subscription(request: Request) -> Response:
    token: str = request.path_params["token"]
    try:
        if request.method == "POST":
            await read_form(request)
            await uow(request, service.confirm, token, write=True)
            url = request.url_for("manage_subscription", token=token).include_query_params(confirmed=1)
            return RedirectResponse(url, status_code=303)
        subscriber = await uow(request, service.subscription_by_token, token)
    except NotFound:
        return _gone(request)
    return render(request, "public/subscribe_confirm.html", {"subscriber": subscriber}, headers=PRIVATE)


async def manage_subscription(request: Request) -> Response:
    token: str = request.path_params["token"]
    # The CSRF check first: a forged POST is refused whether or not the token opens anything.
    formdata = await read_form(request) if request.method == "POST" else None
    try:
        page = await uow(request, service.preferences, token, digest_weekday=_weekday(request))
    except NotFound:
        return _gone(request)
    subscriber = page.subscriber
    options = {"programmes": page.choices.programmes, "categories": page.choices.categories, "digest_weekday": _weekday(request)}
    query = request.query_params
    notice = "confirmed" if query.get("confirmed") == "1" else "saved" if query.get("saved") == "1" else ""
    if formdata is not None:
        form = PreferencesForm(formdata, **options)
        if form.validate():
            try:
                await uow(request, service.update_preferences, token, **form.choices(), write=True)
            except SubscriptionProblem as exc:
                form[exc.field].errors = [*form[exc.field].errors, exc.message]
            except NotFound:
                return _gone(request)
            else:
                url = request.url_for("manage_subscription", token=token).include_query_params(saved=1)
                return RedirectResponse(url, status_code=303)
        context = {"page": page, "form": form, "notice": ""}
        return render(request, "public/subscription.html", context, status_code=422, headers=PRIVATE)
    data = {"programmes": subscriber.programmes, "categories": subscriber.categories, "frequency": subscriber.frequency.value}
    form = PreferencesForm(data=data, **options)
    return render(request, "public/subscription.html", {"page": page, "form": form, "notice": notice}, headers=PRIVATE)


async def unsubscribe(request: Request) -> Response:
    token: str = request.path_params["token"]
    if request.method == "POST":
        # None: RFC 8058's one-click POST from a mail provider, without cookie or CSRF token.
        one_click = await read_unsubscribe_form(request) is None
        try:
            await uow(request, service.leave, token, write=True)
        except NotFound:
            if not one_click:
                return _gone(request)
            # Gone already: leaving twice is leaving, and a provider retrying needs a 200.
        return render(request, "public/unsubscribe.html", {"left": True, "token": token}, headers=PRIVATE)
    try:
        subscriber = await uow(request, service.subscription_by_token, token)
    except NotFound:
        return _gone(request)
    # The page behind the subscriber's own private link: it names the address that leaves.
    context = {"left": False, "token": token, "email": subscriber.email}
    return render(request, "public/unsubscribe.html", context, headers=PRIVATE)


async def download_subscription_data(request: Request) -> Response:
    """Everything held about the subscriber, as a JSON file to keep."""
    try:
        data = await uow(request, service.subscription_data, _path_token(request))
    except NotFound:
        return _gone(request)
    body = json.dumps(data, indent=2, ensure_ascii=False)
    headers = {**PRIVATE, "Content-Disposition": 'attachment; filename="subscription-data.json"'}
    return Response(body, media_type="application/json", headers=headers)


async def erase_subscription(request: Request) -> Response:
    """Erase the subscription: a page that says what goes, and a POST (with the box ticked)
    that deletes it."""
    token = _path_token(request)
    problem = None
    if request.method == "POST":
        formdata = await read_form(request)
        if formdata.get("understood") == "yes":
            try:
                await uow(request, service.erase, token, write=True)
            except NotFound:
                return _gone(request)
            return render(request, "public/subscription_erased.html", headers=PRIVATE)
        problem = "Tick the box to confirm that you want your subscription and its data erased."
    try:
        subscriber = await uow(request, service.subscription_by_token, token)
    except NotFound:
        return _gone(request)
    context = {"token": token, "email": subscriber.email, "problem": problem}
    return render(request, "public/subscription_erase.html", context, status_code=422 if problem else 200, headers=PRIVATE)


def _path_token(request: Request) -> str:
    token: str = request.path_params["token"]
    return token


# "subscribed" (/subscribe/sent) before "manage_subscription" (/subscribe/{token}), which
# would otherwise take "sent" for a token.
routes = [
    public_route("subscribe", subscribe, methods=["GET", "POST"]),
    public_route("subscribed", subscribed),
    public_route("confirm_subscription", confirm_subscription, methods=["GET", "POST"]),
    public_route("manage_subscription", manage_subscription, methods=["GET", "POST"]),
    public_route("unsubscribe", unsubscribe, methods=["GET", "POST"]),
    public_route("download_subscription_data", download_subscription_data),
    public_route("erase_subscription", erase_subscription, methods=["GET", "POST"]),
]
