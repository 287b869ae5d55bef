from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action

from api.viewsets import StatusTypeSerializer, TenantReadOnlyViewSet, status_types_response
from obligations.api.filters import ObligationFilterSet
from obligations.api.serializers import OBLIGATION_FIELDS, STATUS_DESCRIPTIONS
from obligations.models import Obligation, ObligationStatus


class ObligationViewSet(TenantReadOnlyViewSet):
    """Obligations: amounts owed to collaborators, read-only. Default order: ``id`` descending."""

    queryset = Obligation.objects.all()
    fieldset = OBLIGATION_FIELDS
    filterset_class = ObligationFilterSet
    ordering_fields = {
        "id": "id",
        "status": "status",
        "value": "value",
        "collaboratorId": "collaborator_id",
        "dateCreated": "created_at",
    }

    @extend_schema(summary="List obligations")
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Retrieve an obligation")
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(summary="Obligation statuses", responses=StatusTypeSerializer(many=True))
    @action(detail=False, url_path="status-types", filter_backends=[], pagination_class=None)
    def status_types(self, request):
        """Every obligation status with its label and meaning."""
        return status_types_response(ObligationStatus.choices, STATUS_DESCRIPTIONS)
