"""Session login: the cookie Django sets is first-party through devproxy."""

import json

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

USERS = {"ada": "lovelace"}  # a local example, not a user store


@require_GET
@ensure_csrf_cookie
def csrf(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})  # sets the csrftoken cookie the page sends back


@require_POST
def login(request: HttpRequest) -> JsonResponse:
    data = json.loads(request.body or b"{}")
    if USERS.get(data.get("username")) != data.get("password"):
        return JsonResponse({"error": "wrong username or password"}, status=401)
    request.session["user"] = data["username"]
    return JsonResponse({"user": data["username"]})


@require_POST
def logout(request: HttpRequest) -> JsonResponse:
    request.session.flush()
    return JsonResponse({"user": None})


@require_GET
def me(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"user": request.session.get("user")})
