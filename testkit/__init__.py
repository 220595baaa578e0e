"""The test kit: stand-ins for the providers, mail servers, the project's servers as processes,
databases and builders, signed payloads and waiting helpers — for tests/, bench/ and scripts/,
never shipped (pyproject.toml packages only misybot, actions, connectors and components)."""
