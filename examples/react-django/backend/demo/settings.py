"""A minimal Django project: session login with CSRF protection, no database."""

SECRET_KEY = "devproxy-example-not-secret"  # a local example, never deployed
DEBUG = True
# The browser's Host arrives unchanged through devproxy.
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]
ROOT_URLCONF = "demo.urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
# Signed-cookie sessions: no database needed for the example.
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
