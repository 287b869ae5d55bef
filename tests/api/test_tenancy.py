"""Tenant scoping: every viewset uses the base, overrides stay scoped, other organizations' rows are 404."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.exceptions import NotFound
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from api.authentication import ApiClient
from api.viewsets import TenantAPIView, TenantReadOnlyViewSet
from distributions.api.views import DistributionViewSet
from distributions.models import Distribution
from tests.api.helpers import BASE
from tests.factories import AllocationFactory, ApiKeyFactory, DistributorFactory, ObligationFactory

DOCUMENTATION_VIEWS = {"SpectacularAPIView", "SchemaView", "SpectacularSwaggerView", "SpectacularRedocView"}


def api_view_classes():
    """Every DRF view class routed under /api/."""
    found = set()

    def walk(patterns, prefix):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and "api/" in route:
                cls = getattr(pattern.callback, "cls", None)
                if cls is not None and issubclass(cls, APIView):
                    found.add(cls)

    walk(get_resolver().url_patterns, "")
    return found


def test_every_api_view_is_a_tenant_viewset():
    classes = api_view_classes()
    data_views = {cls for cls in classes if cls.__name__ not in DOCUMENTATION_VIEWS}
    assert {cls.__name__ for cls in data_views} == {
        "DistributionViewSet",
        "DistributorViewSet",
        "ObligationViewSet",
        "CreditMetricView",
        "CreditMetricBatchView",
        "EventListView",
    }
    # TenantAPIView: the key's organization, scope and throttle
    api_views = {"CreditMetricView", "CreditMetricBatchView", "EventListView"}
    assert all(issubclass(cls, TenantReadOnlyViewSet) for cls in data_views if cls.__name__ not in api_views)
    assert all(issubclass(cls, TenantAPIView) for cls in data_views if cls.__name__ in api_views)


def _view_for(view_class, api_key):
    """A viewset instance as DRF sets it up for a request authenticated by ``api_key``."""
    request = APIRequestFactory().get("/")
    view = view_class()
    view.request = request
    view.format_kwarg = None
    view.kwargs = {}
    view.action = "retrieve"
    request.auth = api_key
    request.user = ApiClient(api_key)
    return view


@pytest.mark.django_db
def test_an_overriding_get_queryset_is_still_scoped():
    mine, theirs = AllocationFactory().distribution, AllocationFactory().distribution

    class Careless(DistributionViewSet):
        def get_queryset(self):
            return Distribution.objects.all()  # forgets the organization

    view = _view_for(Careless, ApiKeyFactory(organization=mine.organization))
    assert list(view.get_queryset()) == [mine]
    assert theirs not in view.get_queryset()


@pytest.mark.django_db
def test_an_overriding_get_object_is_still_checked():
    mine, theirs = AllocationFactory().distribution, AllocationFactory().distribution

    class Careless(DistributionViewSet):
        def get_object(self):
            return Distribution.objects.get(pk=self.kwargs["pk"])

    view = _view_for(Careless, ApiKeyFactory(organization=mine.organization))
    view.kwargs = {"pk": mine.pk}
    assert view.get_object() == mine
    view.kwargs = {"pk": theirs.pk}
    with pytest.raises(NotFound):
        view.get_object()


@pytest.mark.django_db
def test_base_get_object_is_scoped():
    mine, theirs = AllocationFactory().distribution, AllocationFactory().distribution
    view = _view_for(DistributionViewSet, ApiKeyFactory(organization=mine.organization))
    view.kwargs = {"pk": theirs.pk}
    with pytest.raises(NotFound):
        view.get_object()
    view.kwargs = {"pk": mine.pk}
    assert view.get_object() == mine


def _distribution(organization):
    return AllocationFactory(distribution__distributor__organization=organization).distribution


def _distributor(organization):
    return DistributorFactory(organization=organization)


def _obligation(organization):
    return ObligationFactory(organization=organization)


RESOURCES = [("distributions", _distribution), ("distributors", _distributor), ("obligations", _obligation)]


@pytest.mark.django_db
@pytest.mark.parametrize(("resource", "make"), RESOURCES)
def test_other_organizations_rows_are_never_listed_and_their_ids_are_404(
    api, other_api, organization, other_organization, resource, make
):
    mine, theirs = make(organization), make(other_organization)

    listed = api.get(f"{BASE}/{resource}", {"include": "extended", "number": 100})
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()] == [mine.pk]
    assert listed["X-Total-Count"] == "1"

    foreign = api.get(f"{BASE}/{resource}/{theirs.pk}")
    missing = api.get(f"{BASE}/{resource}/{theirs.pk + 1000}")
    assert foreign.status_code == 404 and missing.status_code == 404
    assert set(foreign.json()) == {"message"}

    assert other_api.get(f"{BASE}/{resource}/{theirs.pk}").status_code == 200
    assert other_api.get(f"{BASE}/{resource}/{mine.pk}").status_code == 404


@pytest.mark.django_db
def test_nested_rows_of_another_organization_never_leak(api, organization, other_organization):
    """Extended fields load related rows in batches; those batches are scoped too."""
    mine = _distribution(organization)
    theirs = _distribution(other_organization)
    body = api.get(f"{BASE}/distributions/{mine.pk}", {"include": "extended"}).json()
    assert [a["distributionId"] for a in body["allocations"]] == [mine.pk]
    listed = api.get(f"{BASE}/distributions/{mine.pk}/allocations", {"include": "extended"})
    assert [a["distributionId"] for a in listed.json()] == [mine.pk] and listed["X-Total-Count"] == "1"
    for pk in (theirs.pk, theirs.pk + 1000):
        foreign = api.get(f"{BASE}/distributions/{pk}/allocations")
        assert foreign.status_code == 404 and set(foreign.json()) == {"message"}


@pytest.mark.django_db
def test_filtering_by_another_organizations_ids_finds_nothing(api, other_organization):
    theirs = _distribution(other_organization)
    response = api.get(f"{BASE}/distributions", {"distributorId": theirs.distributor_id})
    assert response.status_code == 200 and response.json() == []
    obligation = theirs.allocations.get().obligation
    for params in ({"distributionId": theirs.pk}, {"collaboratorId": obligation.collaborator_id}):
        response = api.get(f"{BASE}/obligations", params)
        assert response.status_code == 200 and response.json() == []
