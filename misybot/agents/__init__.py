"""The agents: plain functions ``(session, actor, request) -> result`` with typed dataclasses.

Each call checks the actor's permission, reads and writes only the actor's company, and leaves
committing to the caller's ``session_scope()``.
"""
