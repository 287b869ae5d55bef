"""How interfaces name a collaborator: its id (``42``) or an alias ``type:code``. The one parser of that text.

The alias is split on the first colon only, so a code may itself contain colons (``tracking:a:b`` is type
``tracking``, code ``a:b``). Pure: no database.
"""

from dataclasses import dataclass

MAX_ID = 2**63 - 1  # ids are bigints
MAX_REF_LENGTH = 255
REF_PATTERN = r"^(\d+|[^:]+:.+)$"  # what the OpenAPI schema documents


@dataclass(frozen=True)
class CollaboratorRef:
    """Either ``id`` or both ``alias_type`` and ``code``."""

    id: int | None = None
    alias_type: str | None = None
    code: str | None = None


def parse_collaborator_ref(value: str | int, *, max_length: int | None = MAX_REF_LENGTH) -> CollaboratorRef | None:
    """The ref ``value`` names, or ``None`` when it names nothing (empty, malformed, out of range, control
    characters, longer than ``max_length``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return CollaboratorRef(id=value) if 1 <= value <= MAX_ID else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or (max_length is not None and len(text) > max_length) or not text.isprintable():
        return None
    if text.isascii() and text.isdigit():
        number = int(text) if len(text) <= 19 else MAX_ID + 1
        return CollaboratorRef(id=number) if 1 <= number <= MAX_ID else None
    alias_type, sep, code = text.partition(":")
    if not sep or not alias_type or not code:
        return None
    return CollaboratorRef(alias_type=alias_type, code=code)
