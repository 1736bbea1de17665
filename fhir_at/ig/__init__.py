"""The implementation guide of fhir-at: the FHIR package ``fhir.at.assessment``.

- :mod:`.profiles` — the StructureDefinitions of ``profiles/`` with their generated snapshots;
- :mod:`.terminology` — CodeSystems and ValueSets generated from the tables of ``mappings/``;
- :mod:`.runtime` — the package as the validator loads it by default (built into the user cache);
- :mod:`.conformance` — the ImplementationGuide and the receiving server's CapabilityStatement;
- :mod:`.package` — assembling the package and writing it (folder or ``.tgz``), deterministically.

The examples are made by the mappers through the API, in :mod:`fhir_at.ig_examples` (the API uses
this package, so it cannot use the API).
"""
