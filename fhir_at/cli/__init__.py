"""The ``fhir-at`` command line: one module per command, ``main`` the only place that prints errors."""
