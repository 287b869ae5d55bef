"""Reads about collaborators shared by the API, admin, services and management commands."""

from organizations.models import Organization

from .models import Collaborator


def collaborator_resolve(*, organization: Organization, ref: str) -> Collaborator:
    """Return the organization's collaborator named by ``ref``: its id (``"42"``) or an alias ``type:code``.

    The alias is split on the first colon only, so a code may itself contain colons
    (``tracking:a:b`` is type ``tracking``, code ``a:b``). Any status is returned: whether the
    collaborator may earn is the caller's decision. Another organization's collaborator, an empty
    or malformed ref and an unknown alias all raise ``Collaborator.DoesNotExist`` (the API turns it
    into a 404), so a caller can never tell a foreign id from a missing one.
    """
    ref = str(ref).strip()
    qs = Collaborator.objects.filter(organization=organization)
    if ref.isdigit() and ref.isascii():
        return qs.get(pk=int(ref))
    alias_type, sep, code = ref.partition(":")
    if not sep or not alias_type or not code:
        raise Collaborator.DoesNotExist(f"No collaborator {ref!r}.")
    return qs.get(aliases__type=alias_type, aliases__code=code, aliases__organization=organization)
