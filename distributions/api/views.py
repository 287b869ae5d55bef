from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action

from api.viewsets import StatusTypeSerializer, TenantReadOnlyViewSet, status_types_response
from distributions.api.filters import DistributionFilterSet
from distributions.api.serializers import DISTRIBUTION_FIELDS, DISTRIBUTOR_WITH_PERIOD_FIELDS, STATUS_DESCRIPTIONS
from distributions.models import Distribution, DistributionStatus
from distributors.api import views as distributor_views


class DistributionViewSet(TenantReadOnlyViewSet):
    """Distributions: one period of a distributor each, read-only (the engine creates them).

    Default order: ``id`` descending (newest first).
    """

    queryset = Distribution.objects.all()
    fieldset = DISTRIBUTION_FIELDS
    filterset_class = DistributionFilterSet
    ordering_fields = {
        "id": "id",
        "status": "status",
        "distributorId": "distributor_id",
        "triggerDate": "trigger_date",
        "dateCreated": "created_at",
    }

    @extend_schema(summary="List distributions")
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Retrieve a distribution")
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(summary="Distribution statuses", responses=StatusTypeSerializer(many=True))
    @action(detail=False, url_path="status-types", filter_backends=[], pagination_class=None)
    def status_types(self, request):
        """Every distribution status with its label and meaning."""
        return status_types_response(DistributionStatus.choices, STATUS_DESCRIPTIONS)


class DistributorViewSet(distributor_views.DistributorViewSet):
    """Distributors (read-only) and the one write of the API, ``credit-metric``.

    Default order: ``id`` descending. Deleted distributors are listed only with ``status=deleted``.
    """

    # ``/distributors`` as routed: the distributors app's endpoint plus ``currentDistribution``, which this
    # app owns; ``credit-metric`` is ``metrics.api.views.CreditMetricView`` (``config.urls``).
    fieldset = DISTRIBUTOR_WITH_PERIOD_FIELDS
