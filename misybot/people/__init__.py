"""People: a company's team, their channel addresses, invitations, audit, privacy requests."""
