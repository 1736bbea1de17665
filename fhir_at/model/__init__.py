"""The internal assessment format: its JSON Schema and the checks beyond what a schema can say."""
