"""Helpers shared by the management commands: resolving the tenant from ``--organization`` and progress bars."""

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from django.core.management.base import CommandError
from tqdm import tqdm

from organizations.models import Organization

T = TypeVar("T")


def organization_by_slug(slug: str) -> Organization:
    """The organization named by ``--organization SLUG``; an unknown slug is one readable CommandError line."""
    try:
        return Organization.objects.get(slug=slug)
    except Organization.DoesNotExist:
        raise CommandError(f"No organization with slug '{slug}'.") from None


def progress(iterable: Iterable[T], *, total: int | None = None, desc: str = "") -> Iterator[T]:
    """Wrap ``iterable`` in a tqdm bar on stderr, only when stderr is a terminal (cron logs stay clean)."""
    if not sys.stderr.isatty():
        yield from iterable
        return
    yield from tqdm(iterable, total=total, desc=desc, file=sys.stderr, leave=False)
