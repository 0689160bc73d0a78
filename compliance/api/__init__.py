"""The compliance API under /api/v1/ (mounted by mso_platform.urls): serializers, viewsets, routes."""
