"""Nobody acts where they don't belong: the admin under memberships (``organizations.admin.TenantAdminMixin``).

The battery is generated from the admin registry (``admin.site._registry``), so a new ModelAdmin is covered
without editing this file. For each role (viewer, operator, admin) of organization Alpha, with the same data in
Alpha and Bravo: every changelist lists no Bravo row (and names none), every change, history and delete page of
a Bravo row is Django's "doesn't exist" redirect to the index, every autocomplete lists no Bravo row, every
action run on Bravo's rows changes nothing, every form offers no Bravo choice, and what the role may not do is
not offered and, crafted, changes nothing. The roles expected below are the product decision (DESIGN.md §7),
written out here so that a mis-set role fails; a new admin is expected to follow the defaults (viewers read,
admins write, superusers hard-delete).
"""

import pytest
from django.contrib import admin, messages
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.forms import ModelChoiceField
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from collaborators.models import Collaborator
from distributions.models import Distribution
from distributors.models import Distributor
from obligations.models import Fulfillment, Obligation, ObligationStatus, Payout
from organizations.admin import (
    TenantAdminMixin,
    TenantInlineMixin,
    organization_lookup,
    organization_path_of,
    staff_access,
    tenant_path_of,
)
from organizations.models import ApiKey, Membership, Organization, Role
from tests.organizations.tenancy_data import (
    ROLES,
    global_models,
    member,
    organization,
    rows_of,
    snapshot,
    tenant_models,
    world,
)

pytestmark = pytest.mark.django_db

REGISTERED = sorted(admin.site._registry, key=lambda model: model._meta.label)
TENANT = tenant_models()
GLOBAL = global_models()
MARKER = "Bravo"  # every name of the other organization carries it; no page of Alpha's members may show it

# The product decision: the role each move needs (None: superusers only). Viewers read every tenant model.
WRITE_ROLE = {  # add and change
    "organizations.Organization": None,
    "obligations.Obligation": Role.OPERATOR,
    "obligations.Payout": Role.OPERATOR,
    "obligations.Fulfillment": Role.OPERATOR,
    "metrics.MetricCredit": Role.OPERATOR,  # crediting
}
DELETE_ROLE = {
    "organizations.Membership": Role.ADMIN,
    "collaborators.CollaboratorAlias": Role.ADMIN,
    "distributors.RevenueEntry": Role.ADMIN,
    "obligations.MinimumPayout": Role.ADMIN,
}
ACTION_ROLE = dict.fromkeys(
    ["approve", "reject", "cancel", "adjust", "correct", "mark_paid", "mark_unpaid", "mark_failed"], Role.OPERATOR
)


def write_role(model):
    return WRITE_ROLE.get(model._meta.label, Role.ADMIN)


def delete_role(model):
    return DELETE_ROLE.get(model._meta.label)


def action_role(model, name):
    return delete_role(model) if name == "delete_selected" else ACTION_ROLE.get(name, Role.ADMIN)


def covers(role, required) -> bool:
    return Role.covers(role, required)


def _label(value):
    return value._meta.label if hasattr(value, "_meta") else str(value)


def url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def request_as(user, method="get", path="/admin/", data=None):
    request = getattr(RequestFactory(), method)(path, data or {})
    request.user = user
    return request


@pytest.fixture
def alpha(db):
    alpha = organization("Alpha")
    world(alpha, "Alpha")
    return alpha


@pytest.fixture
def bravo(db):
    bravo = organization(MARKER, timezone="Asia/Tokyo")
    world(bravo, MARKER)
    return bravo


@pytest.fixture
def engine_run(db):
    from tests.factories import EngineRunFactory

    return EngineRunFactory(status="succeeded")


@pytest.fixture(params=ROLES)
def role(request):
    return request.param


@pytest.fixture
def staff(role, alpha, bravo, engine_run, client):
    """A member holding ``role`` in Alpha, logged in; Bravo holds the same data."""
    user = member(role, alpha, username=f"alpha-{role}")
    client.force_login(user)
    return user


def superuser_allows(model, permission, obj=None) -> bool:
    """What the admin itself allows a superuser (read-only admins, no hard deletes): roles only narrow it."""
    from django.contrib.auth.models import User

    root = User.objects.filter(is_superuser=True).first() or User.objects.create_superuser("root", "r@x.y", "pw")
    model_admin = admin.site._registry[model]
    method = getattr(model_admin, f"has_{permission}_permission")
    return method(request_as(root)) if permission == "add" else method(request_as(root), obj)


def assert_no_marker(response):
    assert MARKER not in response.content.decode(), f"{MARKER} shows on {response.request['PATH_INFO']}"


# --- the registry ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", REGISTERED, ids=_label)
def test_every_registered_admin_applies_the_tenancy_rule(model):
    model_admin = admin.site._registry[model]
    assert isinstance(model_admin, TenantAdminMixin), f"{type(model_admin).__name__} lacks TenantAdminMixin"
    path = model_admin.tenant_path()
    assert path == organization_path_of(model), "the admin's organization_path and the model disagree"
    if path:
        model._default_manager.filter(**{organization_lookup(path): []}).exists()  # a valid lookup
        target = model
        for step in path.split("__"):
            target = target._meta.get_field(step).related_model
        assert target is Organization
    for inline in model_admin.inlines:
        assert issubclass(inline, TenantInlineMixin), f"{inline.__name__} lacks TenantInlineMixin"


def test_the_registry_has_tenant_and_global_models():
    assert {model._meta.label for model in GLOBAL} == {"auth.User", "auth.Group", "distributions.EngineRun"}
    assert len(TENANT) >= 13


# --- rows of another organization: never listed, never opened -------------------------------------------------


@pytest.mark.parametrize("model", TENANT, ids=_label)
def test_the_changelist_lists_no_row_of_another_organization(model, staff, alpha, bravo, client):
    response = client.get(url(model, "changelist"))
    assert response.status_code == 200
    listed = {obj.pk for obj in response.context["cl"].result_list}
    assert listed, "Alpha's rows are listed"
    assert listed <= set(rows_of(model, alpha).values_list("pk", flat=True))
    assert not listed & set(rows_of(model, bravo).values_list("pk", flat=True))
    assert response.context["cl"].result_count == rows_of(model, alpha).count()
    assert_no_marker(response)

    # Searching or filtering for Bravo finds nothing either.
    for query in ({"q": MARKER}, {"organization__id__exact": bravo.pk}, {"o": "1"}, {"_facets": "1"}):
        found = client.get(url(model, "changelist"), query)
        if found.status_code == 200:
            assert not {obj.pk for obj in found.context["cl"].result_list} & set(
                rows_of(model, bravo).values_list("pk", flat=True)
            )
            if "q" not in query:  # the search box echoes the term
                assert_no_marker(found)


@pytest.mark.parametrize("model", TENANT, ids=_label)
def test_a_row_of_another_organization_does_not_exist(model, staff, bravo, client):
    """Django's answer for a row the user's queryset lacks: a redirect to the index, "… doesn't exist"."""
    foreign = rows_of(model, bravo).order_by("pk").first()
    assert foreign is not None
    views = ["change", "history"]
    if admin.site._registry[model].has_delete_permission(request_as(staff)):
        views.append("delete")
    else:  # Django asks the permission before it looks for the row: no delete at all is a 403
        assert client.get(url(model, "delete", foreign.pk)).status_code == 403
    for view in views:
        response = client.get(url(model, view, foreign.pk))
        assert response.status_code == 302, view
        assert response.url == reverse("admin:index")
        shown = [str(message) for message in client.get(response.url).context["messages"]]
        assert any(f"ID “{foreign.pk}” doesn’t exist" in text for text in shown), shown
    before = snapshot(bravo)
    client.post(url(model, "change", foreign.pk), {})
    client.post(url(model, "delete", foreign.pk), {"post": "yes"})
    assert snapshot(bravo) == before


@pytest.mark.parametrize("model", GLOBAL, ids=_label)
def test_rows_of_no_organization_follow_djangos_permissions(model, staff, client):
    """Engine runs, users and groups: Django's model permissions, which a member does not have."""
    assert client.get(url(model, "changelist")).status_code == 403


def _autocomplete_sources():
    """(source model, field): every relation of a registered model to a registered tenant model with search fields."""
    sources = []
    for model in REGISTERED:
        for field in model._meta.get_fields():
            if not (field.concrete and field.is_relation and (field.many_to_one or field.many_to_many)):
                continue
            remote = admin.site._registry.get(field.related_model)
            if remote is not None and remote.search_fields and tenant_path_of(field.related_model) is not None:
                sources.append((model, field.name))
    return sources


AUTOCOMPLETE_SOURCES = _autocomplete_sources()


@pytest.mark.parametrize(
    ("model", "field"), AUTOCOMPLETE_SOURCES, ids=[f"{m._meta.label}.{f}" for m, f in AUTOCOMPLETE_SOURCES]
)
def test_autocomplete_offers_no_row_of_another_organization(model, field, staff, role, alpha, bravo, client):
    remote = model._meta.get_field(field).related_model
    params = {"app_label": model._meta.app_label, "model_name": model._meta.model_name, "field_name": field}
    for term in ("", MARKER):
        response = client.get("/admin/autocomplete/", {**params, "term": term})
        assert response.status_code == 200
        ids = {int(result["id"]) for result in response.json()["results"]}
        assert not ids & set(rows_of(remote, bravo).values_list("pk", flat=True))
        assert MARKER not in response.content.decode()
    ids = {int(result["id"]) for result in client.get("/admin/autocomplete/", params).json()["results"]}
    assert ids <= set(rows_of(remote, alpha).values_list("pk", flat=True))
    # The choices are those of the source form: offered only to a role that may fill it in.
    assert bool(ids) == covers(role, write_role(model)), ids


def _actions_of(model):
    from django.contrib.auth.models import User

    root = User.objects.filter(is_superuser=True).first() or User.objects.create_superuser("root", "r@x.y", "pw")
    return sorted(admin.site._registry[model].get_actions(request_as(root)))


def _post_action(client, model, name, ids, *, confirmed):
    data = {"action": name, "_selected_action": [str(pk) for pk in ids]}
    data.update({"post": "yes", "reason": "crafted"} if confirmed else {"index": "0"})
    return client.post(url(model, "changelist"), data)


@pytest.mark.parametrize("model", TENANT, ids=_label)
def test_every_action_on_another_organizations_rows_changes_nothing(model, staff, bravo, client):
    ids = list(rows_of(model, bravo).values_list("pk", flat=True))
    before = snapshot(bravo)
    for name in _actions_of(model):
        for confirmed in (False, True):
            response = _post_action(client, model, name, ids, confirmed=confirmed)
            assert response.status_code in (200, 302), (name, response.status_code)
            assert MARKER not in response.content.decode()
    assert snapshot(bravo) == before


# --- what each role may do -------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", TENANT, ids=_label)
def test_the_role_decides_what_is_offered_and_what_is_refused(model, staff, role, alpha, client):
    model_admin = admin.site._registry[model]
    own = rows_of(model, alpha).order_by("pk").first()
    request = request_as(staff)

    expected_add = superuser_allows(model, "add") and covers(role, write_role(model))
    expected_change = superuser_allows(model, "change", own) and covers(role, write_role(model))
    expected_delete = superuser_allows(model, "delete", own) and covers(role, delete_role(model))
    assert model_admin.has_view_permission(request, own)
    assert model_admin.has_add_permission(request) == expected_add
    assert model_admin.has_change_permission(request, own) == expected_change
    assert model_admin.has_delete_permission(request, own) == expected_delete

    offered = set(model_admin.get_actions(request))
    for name in _actions_of(model):
        assert (name in offered) == covers(role, action_role(model, name)), name
    action_form = client.get(url(model, "changelist")).context["action_form"]
    shown = action_form.fields["action"].choices if action_form is not None else []
    assert {value for value, _ in shown if value} == offered

    # What is refused changes nothing, however it is posted.
    before = snapshot(alpha)
    if not expected_add:
        assert client.get(url(model, "add")).status_code == 403
        assert client.post(url(model, "add"), {}).status_code == 403
    if not expected_change:
        assert client.post(url(model, "change", own.pk), {}).status_code == 403
    if not expected_delete:
        assert client.get(url(model, "delete", own.pk)).status_code == 403
        assert client.post(url(model, "delete", own.pk), {"post": "yes"}).status_code == 403
    for name in _actions_of(model):
        if not covers(role, action_role(model, name)):
            for confirmed in (False, True):
                _post_action(client, model, name, [own.pk], confirmed=confirmed)
    assert snapshot(alpha) == before


@pytest.mark.parametrize("model", TENANT, ids=_label)
def test_forms_offer_no_choice_of_another_organization(model, staff, role, alpha, bravo, client):
    own = rows_of(model, alpha).order_by("pk").first()
    pages = [url(model, "change", own.pk)] + ([url(model, "add")] if covers(role, write_role(model)) else [])
    for page in pages:
        response = client.get(page)
        if response.status_code == 403:
            continue
        assert response.status_code == 200
        assert_no_marker(response)
        adminform = response.context.get("adminform")
        forms = [(adminform.form, None)] if adminform else []
        # An inline form's hidden id is Django's check of a posted id (any row); the row edited is looked up in
        # the formset's queryset, the parent's rows only, so another organization's id edits nothing.
        forms += [
            (form, formset.formset.model._meta.pk.name)
            for formset in response.context.get("inline_admin_formsets", [])
            for form in formset.formset
        ]
        for form, row_id in forms:
            for name, field in form.fields.items():
                if name == row_id:
                    continue
                if isinstance(field, ModelChoiceField) and tenant_path_of(field.queryset.model) is not None:
                    offered = set(field.queryset.values_list("pk", flat=True))
                    assert not offered & set(rows_of(field.queryset.model, bravo).values_list("pk", flat=True)), name


# --- staff of no organization, superusers, several organizations -------------------------------------------------


@pytest.mark.parametrize("model", TENANT, ids=_label)
def test_staff_of_no_organization_see_no_tenant_rows_whatever_their_django_permissions(
    model, alpha, bravo, client, django_user_model
):
    user = django_user_model.objects.create_user("drifter", password="pw", is_staff=True)
    everything = Group.objects.create(name="everything")
    everything.permissions.set(Permission.objects.all())
    user.groups.add(everything)
    client.force_login(user)
    assert client.get(url(model, "changelist")).status_code == 403
    assert client.get(url(model, "change", rows_of(model, alpha).first().pk)).status_code in (302, 403)
    index = client.get("/admin/")
    assert not [app for app in index.context["app_list"] if app["app_label"] == model._meta.app_label] or all(
        entry["object_name"] != model._meta.object_name for app in index.context["app_list"] for entry in app["models"]
    )


@pytest.mark.parametrize("model", TENANT, ids=_label)
def test_superusers_see_every_organization(model, alpha, bravo, admin_client):
    response = admin_client.get(url(model, "changelist"))
    assert response.status_code == 200
    listed = {obj.pk for obj in response.context["cl"].result_list}
    expected = set(rows_of(model, alpha).values_list("pk", flat=True)) | set(
        rows_of(model, bravo).values_list("pk", flat=True)
    )
    assert expected <= listed or response.context["cl"].result_count > len(listed)  # paginated


def test_an_action_on_rows_of_an_organization_where_the_role_is_lower_changes_nothing(alpha, bravo, client):
    """Operator of Alpha, viewer of Bravo: Bravo's obligations are listed, approving them is offered (for
    Alpha's), and a POST selecting one of Bravo's with one of Alpha's changes neither."""
    user = member(Role.OPERATOR, alpha)
    Membership.objects.create(user=user, organization=bravo, role=Role.VIEWER)
    client.force_login(user)
    mine = rows_of(Obligation, alpha).filter(status=ObligationStatus.PENDING).first()
    theirs = rows_of(Obligation, bravo).filter(status=ObligationStatus.PENDING).first()
    listed = {obj.pk for obj in client.get(url(Obligation, "changelist")).context["cl"].result_list}
    assert {mine.pk, theirs.pk} <= listed
    before = snapshot(alpha), snapshot(bravo)
    response = client.post(
        url(Obligation, "changelist"),
        {"action": "approve", "_selected_action": [mine.pk, theirs.pk], "post": "yes", "reason": ""},
        follow=True,
    )
    errors = [str(m) for m in response.context["messages"] if m.level == messages.ERROR]
    assert errors == ["Nothing changed: your role does not allow “approve” on every selected row."]
    assert (snapshot(alpha), snapshot(bravo)) == before
    # Bravo's row opens read-only; Alpha's may be approved.
    assert not admin.site._registry[Obligation].has_change_permission(request_as(user), theirs)
    client.post(
        url(Obligation, "changelist"),
        {"action": "approve", "_selected_action": [mine.pk], "post": "yes", "reason": "checked"},
    )
    mine.refresh_from_db()
    assert mine.status == ObligationStatus.APPROVED


# --- the moves themselves ----------------------------------------------------------------------------------------


def test_an_operator_approves_with_an_optional_note_kept_in_the_history(alpha, bravo, client):
    user = member(Role.OPERATOR, alpha)
    client.force_login(user)
    obligation = rows_of(Obligation, alpha).filter(status=ObligationStatus.PENDING, award_type="manual").get()
    page = client.post(
        url(Obligation, "changelist"), {"action": "approve", "_selected_action": [obligation.pk], "index": 0}
    )
    assert page.status_code == 200 and page.templates[0].name == "admin/organizations/action_reason.html"
    html = page.content.decode()
    assert "Approve 1 obligation?" in html and "Note (optional)" in html and str(obligation) in html
    obligation.refresh_from_db()
    assert obligation.status == ObligationStatus.PENDING  # only asked so far

    done = client.post(
        url(Obligation, "changelist"),
        {"action": "approve", "_selected_action": [obligation.pk], "post": "yes", "reason": "Checked the invoice"},
        follow=True,
    )
    assert [str(m) for m in done.context["messages"]] == ["1 obligation(s) now approved."]
    obligation.refresh_from_db()
    assert obligation.status == ObligationStatus.APPROVED
    assert obligation.description == "Alpha bonus"  # the reason is not written into the row
    entry = LogEntry.objects.get(object_id=str(obligation.pk), content_type__model="obligation")
    assert (entry.user, entry.get_change_message()) == (user, "Approved. Reason: Checked the invoice")


@pytest.mark.parametrize(
    ("model", "action", "pick", "verb"),
    [
        (Obligation, "reject", {"status": "pending"}, "Reject"),
        (Obligation, "cancel", {"status": "pending"}, "Cancel"),
        (Payout, "mark_unpaid", {"status": "paid"}, "Mark unpaid"),
        (Fulfillment, "mark_failed", {"status": "processing"}, "Mark failed"),
        (ApiKey, "revoke_keys", {"revoked_at__isnull": True}, "Revoke"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_refusing_cancelling_and_revoking_require_a_reason(model, action, pick, verb, alpha, client):
    user = member(Role.ADMIN, alpha)
    client.force_login(user)
    row = rows_of(model, alpha).filter(**pick).order_by("pk").first()
    before = snapshot(alpha)
    asked = client.post(url(model, "changelist"), {"action": action, "_selected_action": [row.pk], "index": 0})
    assert asked.status_code == 200 and f"{verb} 1 " in asked.content.decode()
    empty = client.post(url(model, "changelist"), {"action": action, "_selected_action": [row.pk], "post": "yes"})
    assert empty.status_code == 200 and "This field is required." in empty.content.decode()
    blank = client.post(
        url(model, "changelist"), {"action": action, "_selected_action": [row.pk], "post": "yes", "reason": "   "}
    )
    assert blank.status_code == 200 and "This field is required." in blank.content.decode()
    assert snapshot(alpha) == before

    client.post(
        url(model, "changelist"), {"action": action, "_selected_action": [row.pk], "post": "yes", "reason": "Duplicate"}
    )
    assert snapshot(alpha) != before
    entry = LogEntry.objects.get(object_id=str(row.pk), content_type__model=model._meta.model_name)
    assert entry.get_change_message().endswith("Reason: Duplicate")


def test_select_across_carries_to_the_confirmation(alpha, bravo, client):
    """ "Select all" of a filtered list: the confirmation moves the list's rows (the user's only)."""
    client.force_login(member(Role.OPERATOR, alpha))
    changelist = url(Obligation, "changelist") + "?status__exact=pending"
    pending = list(rows_of(Obligation, alpha).filter(status="pending").values_list("pk", flat=True))
    asked = client.post(
        changelist, {"action": "cancel", "_selected_action": [pending[0]], "select_across": "1", "index": 0}
    )
    assert f"Cancel {len(pending)} obligations?" in asked.content.decode()
    assert 'name="select_across" value="1"' in asked.content.decode()
    client.post(
        changelist,
        {"action": "cancel", "_selected_action": [pending[0]], "select_across": "1", "post": "yes", "reason": "x"},
    )
    assert set(rows_of(Obligation, alpha).filter(pk__in=pending).values_list("status", flat=True)) == {"cancelled"}
    assert rows_of(Obligation, bravo).filter(status="pending").count() == len(pending)


def test_the_payouts_csv_of_another_organization_is_not_found(alpha, bravo, client):
    client.force_login(member(Role.VIEWER, alpha))
    own, foreign = rows_of(Fulfillment, alpha).first(), rows_of(Fulfillment, bravo).first()
    assert client.get(reverse("admin:obligations_fulfillment_payouts_csv", args=[own.pk])).status_code == 200
    assert client.get(reverse("admin:obligations_fulfillment_payouts_csv", args=[foreign.pk])).status_code == 404


def test_the_distribution_filter_names_no_distribution_of_another_organization(alpha, bravo, client):
    client.force_login(member(Role.VIEWER, alpha))
    foreign = rows_of(Distribution, bravo).filter(status="processing").get()
    response = client.get(url(Obligation, "changelist"), {"distribution": foreign.pk})
    assert response.context["cl"].result_count == 0
    assert f"No obligation of distribution {foreign.pk}." in response.content.decode()
    assert_no_marker(response)


def test_a_new_rows_zone_is_not_read_from_another_organization(alpha, bravo, client):
    client.force_login(member(Role.ADMIN, alpha))
    page = client.get(url(Distributor, "add"), {"organization": bravo.pk})
    assert "Asia/Tokyo" not in page.content.decode()


def test_a_crafted_add_for_another_organization_is_a_form_error(alpha, bravo, client):
    client.force_login(member(Role.ADMIN, alpha))
    response = client.post(url(ApiKey, "add"), {"organization": bravo.pk, "name": "sneaky", "scopes": ["read"]})
    assert response.status_code == 200
    assert "organization" in response.context["adminform"].form.errors
    assert not ApiKey.objects.filter(name="sneaky").exists()
    collaborator = rows_of(Collaborator, bravo).first()
    client.force_login(member(Role.OPERATOR, alpha))
    response = client.post(
        url(Obligation, "add"),
        {"collaborator": collaborator.pk, "value": "1.00", "units": "USD", "award_type": "manual"},
    )
    assert response.status_code == 200 and "collaborator" in response.context["adminform"].form.errors
    assert not Obligation.objects.filter(collaborator=collaborator, value=100).exists()


def test_crediting_is_for_operators_of_their_organizations(alpha, bravo, client):
    credit = reverse("admin:metrics_metriccredit_credit")
    client.force_login(member(Role.VIEWER, alpha))
    assert client.get(credit).status_code == 403
    client.force_login(member(Role.OPERATOR, alpha))
    form = client.get(credit).context["form"]
    assert list(form.fields["organization"].queryset) == [alpha]
    assert not set(form.fields["collaborator"].queryset) & set(rows_of(Collaborator, bravo))
    foreign = rows_of(Collaborator, bravo).first()
    response = client.post(
        credit, {"organization": bravo.pk, "collaborator": foreign.pk, "metric_type": "manual", "quantity": 1}
    )
    assert response.status_code == 200 and set(response.context["form"].errors) >= {"organization", "collaborator"}


# --- members ---------------------------------------------------------------------------------------------------


def test_organization_admins_manage_their_organizations_members_only(alpha, bravo, client, django_user_model):
    boss = member(Role.ADMIN, alpha)
    newcomer = django_user_model.objects.create_user("newcomer", password="pw", is_staff=True)
    bravo_only = Membership.objects.filter(organization=bravo).first().user
    client.force_login(boss)

    form = client.get(url(Membership, "add")).context["adminform"].form
    users = set(form.fields["user"].queryset)
    assert newcomer in users and boss in users and bravo_only not in users
    assert list(form.fields["organization"].queryset) == [alpha]

    refused = client.post(url(Membership, "add"), {"user": newcomer.pk, "organization": bravo.pk, "role": "admin"})
    assert refused.status_code == 200 and not Membership.objects.filter(user=newcomer).exists()
    added = client.post(url(Membership, "add"), {"user": newcomer.pk, "organization": alpha.pk, "role": "operator"})
    assert added.status_code == 302
    assert Membership.objects.get(user=newcomer).role == Role.OPERATOR
    twice = client.post(url(Membership, "add"), {"user": newcomer.pk, "organization": alpha.pk, "role": "viewer"})
    assert "already exists" in twice.content.decode()

    # Nobody but a superuser changes or removes their own membership (no locking oneself out, no self-promotion).
    own = Membership.objects.get(user=boss)
    assert client.post(url(Membership, "change", own.pk), {"role": "viewer"}).status_code == 403
    assert client.post(url(Membership, "delete", own.pk), {"post": "yes"}).status_code == 403
    assert Membership.objects.get(pk=own.pk).role == Role.ADMIN

    # An operator reads the members but cannot add one.
    client.force_login(member(Role.OPERATOR, alpha))
    assert client.get(url(Membership, "changelist")).status_code == 200
    assert client.get(url(Membership, "add")).status_code == 403


# --- cost: one membership lookup per request, pages bounded ------------------------------------------------------


def _queries(client, path):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, path
    return [query["sql"] for query in captured.captured_queries]


@pytest.mark.parametrize("model", TENANT, ids=_label)
def test_a_members_pages_cost_one_membership_lookup_and_do_not_grow_with_rows(model, alpha, bravo, client):
    client.force_login(member(Role.OPERATOR, alpha))
    changelist = url(model, "changelist")
    change = url(model, "change", rows_of(model, alpha).order_by("pk").first().pk)
    _queries(client, changelist)  # warm per-process caches (content types)
    small = _queries(client, changelist)
    page = _queries(client, change)
    for queries in (small, page):
        lookups = [sql for sql in queries if 'WHERE "organizations_membership"."user_id" =' in sql]
        assert len(lookups) == 1, queries
        assert len(queries) <= 30, "\n".join(queries)
    world(alpha, "Alpha")
    world(alpha, "Alpha")
    large = _queries(client, changelist)
    assert len(large) == len(small), "\n".join(large)


def test_the_access_is_read_once_and_cached_on_the_request(alpha):
    user = member(Role.VIEWER, alpha)
    request = request_as(user)
    with CaptureQueriesContext(connection) as captured:
        first = staff_access(request)
        second = staff_access(request)
    assert first is second and len(captured.captured_queries) == 1
    assert first.roles == {alpha.pk: Role.VIEWER}
