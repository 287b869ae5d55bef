"""Reads about collaborators shared by the API, admin, services and management commands."""

from organizations.models import Organization

from .models import Collaborator
from .refs import CollaboratorRef, parse_collaborator_ref


def collaborator_resolve(*, organization: Organization, ref: CollaboratorRef | str | int) -> Collaborator:
    """Return the organization's collaborator named by ``ref``: its id (``"42"``) or an alias ``type:code``
    (text is parsed by ``collaborators.refs.parse_collaborator_ref``).

    Any status is returned: whether the collaborator may earn is the caller's decision. Another
    organization's collaborator, an empty or malformed ref and an unknown alias all raise
    ``Collaborator.DoesNotExist`` (the API turns it into a 404), so a caller can never tell a foreign id from
    a missing one.
    """
    parsed = ref if isinstance(ref, CollaboratorRef) else parse_collaborator_ref(ref)
    if parsed is None:
        raise Collaborator.DoesNotExist(f"No collaborator {ref!r}.")
    qs = Collaborator.objects.filter(organization=organization)
    if parsed.id is not None:
        return qs.get(pk=parsed.id)
    return qs.get(aliases__type=parsed.alias_type, aliases__code=parsed.code, aliases__organization=organization)
