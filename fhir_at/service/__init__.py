"""The HTTP service (FastAPI): ``create_app(settings)`` in :mod:`fhir_at.service.app`; ``fhir-at serve``
runs it with uvicorn. The routers call :mod:`fhir_at.api` (and build FHIR clients for the configured
servers): no mapping, validation or billing logic lives here."""
