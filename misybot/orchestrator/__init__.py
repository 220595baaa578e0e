"""The agent orchestrator: a durable priority queue on the database, workers, recurring runs and
delivery of slow results back to the user's channel through Rasa.

An execution moves ``queued → running → succeeded | failed | cancelled`` (the issue's
pending / processing / completed).
"""
