from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action

from api.viewsets import StatusTypeSerializer, TenantReadOnlyViewSet, status_types_response
from distributors.api.filters import DistributorFilterSet
from distributors.api.serializers import DISTRIBUTOR_FIELDS, STATUS_DESCRIPTIONS
from distributors.models import Distributor, DistributorStatus


class DistributorViewSet(TenantReadOnlyViewSet):
    """Distributors (read-only). The routed endpoint is ``distributions.api.views.DistributorViewSet``, which
    adds the open period; ``POST /distributors/credit-metric`` is ``metrics.api.views.CreditMetricView``.

    Default order: ``id`` descending. Deleted distributors are listed only with ``status=deleted``.
    """

    queryset = Distributor.objects.all()
    fieldset = DISTRIBUTOR_FIELDS
    filterset_class = DistributorFilterSet
    ordering_fields = {"id": "id", "name": "name", "status": "status", "dateCreated": "created_at"}

    @extend_schema(summary="List distributors")
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Retrieve a distributor")
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(summary="Distributor statuses", responses=StatusTypeSerializer(many=True))
    @action(detail=False, url_path="status-types", filter_backends=[], pagination_class=None)
    def status_types(self, request):
        """Every distributor status with its label and meaning."""
        return status_types_response(DistributorStatus.choices, STATUS_DESCRIPTIONS)
