"""The one base of every management command: the tenant option, instant options, output and exit codes.

``OrganizationCommand`` (``distributors.management.base.DistributorCommand`` adds ``--distributor``) owns:

- ``--organization SLUG_OR_ID``: one option, one help text, ``required`` per command through the class
  attribute ``organization_required`` (``takes_organization = False`` for a command without a tenant). The
  value is a slug, or an id when it is all digits; it is resolved before ``handle`` runs and handed to it
  as the ``organization`` option (an ``Organization``, or ``None`` when the option is optional and absent),
  also kept as ``self.organization``. An unknown one is one ``CommandError`` line.
- Instant options (``--now``, ``--at``): declared with ``add_instant_argument`` in ``add_arguments``,
  parsed before ``handle`` by the project's one parser, ``clock.parse_instant(value, not_after=now)``; the
  command receives an aware ``datetime``. What the parser refuses (no UTC offset, not ISO 8601, out of
  range, in the future) becomes ``CommandError("--now: <message>")``; a future instant gets the command's
  own reason appended. Print instants with ``clock.iso_utc``.
- Output: ``--json`` when ``json_option = True`` (``self.json_output``, ``write_json``); ``write_summary``
  prints the one summary line on stdout, or on stderr when stdout carries data (JSON, CSV, a key).
- Exit codes: 0 success; 1 a refusal or a failure. A ``CommandError`` is one readable line on stderr
  (``CommandError: ...``, exit status 1), never a traceback (unless ``--traceback``); a message that spans
  lines is joined into one. ``exit_failed(summary)`` ends a command that partly failed (its summary line
  becomes that one stderr line, exit status 1). Malformed command lines (an unknown option, a missing
  required one) stay argparse's: usage on stderr, exit status 2. A database that is down or unreachable is
  one line too ("The database is unavailable (...)"), exit status 1.
- ``progress()`` / ``progress_callback()``: tqdm bars on stderr, only when stderr is a terminal.
"""

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn, TypeVar

from django.core.management.base import BaseCommand, CommandError, SystemCheckError
from django.db import InterfaceError, OperationalError
from django.utils import timezone
from tqdm import tqdm

import clock
from organizations.models import Organization

T = TypeVar("T")

ORGANIZATION_HELP = "The organization: its slug, or its id (all digits)."
ORGANIZATION_OPTIONAL_HELP = " Optional: without it, every organization."
MAX_ID = 2**63 - 1  # the largest bigint; a larger id names nothing (and would overflow the query)
JSON_HELP = "Print a machine-readable JSON document on stdout (the summary line then goes to stderr)."


def organization_resolve(value: "str | int | Organization", *, option: str = "--organization") -> Organization:
    """The organization ``value`` names: its slug, or its id when all digits; else one CommandError line."""
    if isinstance(value, Organization):
        return value
    text = str(value).strip()
    if text.isascii() and text.isdigit():
        pk = record_id(text)
        organization = Organization.objects.filter(pk=pk).first() if pk is not None else None
    else:
        organization = Organization.objects.filter(slug=text).first()
    if organization is None:
        raise CommandError(f"{option}: no organization '{text}' (give its slug or id).")
    return organization


def record_id(text: str) -> int | None:
    """``text`` as a primary key when it is all ASCII digits and fits a bigint, else ``None``."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text.lstrip("0")) > len(str(MAX_ID)):
        return None
    value = int(text)
    return value if value <= MAX_ID else None


def instant_parse(value: str | datetime, *, option: str, future_reason: str = "") -> datetime:
    """``value`` as an aware datetime, not after now; what ``clock.parse_instant`` refuses is one
    ``CommandError`` line naming ``option`` (a future instant with ``future_reason`` appended)."""
    try:
        return clock.parse_instant(value, not_after=timezone.now())
    except clock.InstantError as exc:
        message = str(exc)
        if future_reason and _parses_without_bound(value):  # the only refusal left is "in the future"
            message = f"{message.rstrip('.')}; {future_reason.rstrip('.')}."
        raise CommandError(f"{option}: {message}") from None


def _parses_without_bound(value: str | datetime) -> bool:
    try:
        clock.parse_instant(value)
    except clock.InstantError:
        return False
    return True


def progress(iterable: Iterable[T], *, total: int | None = None, desc: str = "") -> Iterator[T]:
    """Wrap ``iterable`` in a tqdm bar on stderr, only when stderr is a terminal (cron logs stay clean)."""
    if not sys.stderr.isatty():
        yield from iterable
        return
    yield from tqdm(iterable, total=total, desc=desc, file=sys.stderr, leave=False)


@contextmanager
def progress_callback(*, desc: str = "", unit: str = "it") -> Iterator[Callable[[int, int], None]]:
    """A ``report(done, total)`` callback drawing a tqdm bar on stderr (only when it is a terminal), for
    services that report their own progress; the bar is closed on leaving the block."""
    bar: tqdm | None = None
    enabled = sys.stderr.isatty()

    def report(done: int, total: int) -> None:
        nonlocal bar
        if not enabled:
            return
        if bar is None:
            bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False)
        bar.total = total
        bar.update(done - bar.n)

    try:
        yield report
    finally:
        if bar is not None:
            bar.close()


@dataclass(frozen=True)
class InstantOption:
    flag: str
    dest: str
    future_reason: str


class OrganizationCommand(BaseCommand):
    """Base of every management command; see the module docstring."""

    takes_organization = True
    organization_required = True
    json_option = False

    organization: Organization | None = None
    json_output = False

    # ------------------------------------------------------------------ options

    def create_parser(self, prog_name, subcommand, **kwargs):
        self._instant_options: dict[str, InstantOption] = {}
        parser = super().create_parser(prog_name, subcommand, **kwargs)  # calls add_arguments
        self.add_base_options(parser)
        return parser

    def add_base_options(self, parser) -> None:
        """The options the base owns, after the command's own; subclasses extend (call super first)."""
        if self.takes_organization:
            parser.add_argument(
                "--organization",
                required=self.organization_required,
                metavar="SLUG_OR_ID",
                help=ORGANIZATION_HELP + ("" if self.organization_required else ORGANIZATION_OPTIONAL_HELP),
            )
        if self.json_option:
            parser.add_argument("--json", action="store_true", help=JSON_HELP)

    def add_instant_argument(self, parser, flag: str, *, help: str, future_reason: str = "") -> None:
        """Declare an instant option (e.g. ``--now``): ISO 8601 with a UTC offset, never in the future
        (``future_reason`` says why, in the refusal). ``handle`` receives an aware datetime or ``None``."""
        action = parser.add_argument(flag, metavar="ISO-DATETIME", help=help)
        self._instant_options[action.dest] = InstantOption(flag=flag, dest=action.dest, future_reason=future_reason)

    def resolve_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """Turn option values into what ``handle`` receives (instants, the organization); subclasses extend
        (call super first). Every refusal is one CommandError line naming the option."""
        for spec in getattr(self, "_instant_options", {}).values():
            if options.get(spec.dest) is not None:
                options[spec.dest] = instant_parse(
                    options[spec.dest], option=spec.flag, future_reason=spec.future_reason
                )
        self.json_output = bool(self.json_option and options.get("json"))
        if self.takes_organization:
            value = options.get("organization")
            self.organization = organization_resolve(value) if value is not None else None
            options["organization"] = self.organization
        return options

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **self.resolve_options(options))
        except SystemCheckError:
            raise  # formats its own, several lines
        except (OperationalError, InterfaceError) as exc:
            # The database is down or unreachable: one readable line (exit 1), not a driver traceback.
            detail = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
            raise CommandError(f"The database is unavailable ({detail}); nothing was done, run again later.") from exc
        except CommandError as exc:
            message = str(exc)
            if "\n" not in message:
                raise
            one_line = "; ".join(line.strip() for line in message.splitlines() if line.strip())
            raise CommandError(one_line, returncode=exc.returncode) from exc

    # ------------------------------------------------------------------ output and exit

    def write_json(self, document: Any) -> None:
        """The ``--json`` document: exactly one JSON value on stdout."""
        self.stdout.write(json.dumps(document))

    def write_summary(self, line: str, *, data_on_stdout: bool | None = None) -> None:
        """The command's one summary line: stdout, or stderr when stdout carries data (``--json`` by
        default; pass ``data_on_stdout=True`` when it carries CSV or a secret)."""
        if data_on_stdout is None:
            data_on_stdout = self.json_output
        if data_on_stdout:
            self.stderr.write(line, style_func=str)  # not an error: no error colour
        else:
            self.stdout.write(line)

    def exit_failed(self, summary: str) -> NoReturn:
        """End a command that partly failed: ``summary`` is its one stderr line and the exit status is 1."""
        raise CommandError(summary, returncode=1)
