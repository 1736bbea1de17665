"""The implementation guide of fhir-at: the FHIR package ``fhir.at.assessment``.

- :mod:`.profiles` — the StructureDefinitions of ``profiles/`` with their generated snapshots;
- :mod:`.terminology` — CodeSystems and ValueSets generated from the tables of ``mappings/``;
- :mod:`.examples` — example resources made by the mappers from ``examples/``;
- :mod:`.conformance` — the ImplementationGuide and the receiving server's CapabilityStatement;
- :mod:`.package` — assembling the package and writing it (folder or ``.tgz``), deterministically.
"""
