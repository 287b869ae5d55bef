from organizations.models import ApiKey, ApiKeyScope, Organization


def api_key_create(*, organization: Organization, name: str, scopes: list[str] | None = None) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which exists only in this return value."""
    api_key = ApiKey(organization=organization, name=name, scopes=list(scopes or [ApiKeyScope.READ]))
    secret = api_key.issue_secret()
    api_key.full_clean()
    api_key.save()
    return api_key, secret
