from django.contrib.auth.models import AbstractBaseUser

from organizations.models import Membership


def member_roles(*, user: AbstractBaseUser) -> dict[int, str]:
    """The user's role in each organization they are a member of: organization id → role. One query."""
    if user.pk is None:
        return {}
    return dict(Membership.objects.filter(user_id=user.pk).order_by().values_list("organization_id", "role"))
