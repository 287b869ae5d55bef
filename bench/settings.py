"""Bench-only settings (``bench/api.py``): production settings, with the URLconf that adds the bare view.

Never used by the product: the bare comparison view exists only in ``bench.urls``.
"""

from config.settings.production import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
