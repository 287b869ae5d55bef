"""Development mode: the default of ``manage.py``. DEBUG is on unless DEBUG=false is set."""

import os

from .base import *  # noqa: F403
from .base import env_bool

DEBUG = env_bool("DEBUG", True)
# A fixed, clearly-marked development key; production.py refuses anything like it.
SECRET_KEY = os.environ.get("SECRET_KEY") or "django-insecure-development-only-key-do-not-deploy"
