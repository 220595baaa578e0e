"""Demo data: two companies with 90 days of simulated stock movements and purchasing history
(catalogue: who and what they are; simulation: their days; writer: the rows, written once)."""

from misybot.demo.catalogue import COMPANIES, DEFAULT_SEED, demo_user
from misybot.demo.writer import SeedSummary, row_counts, seed_demo

__all__ = ["COMPANIES", "DEFAULT_SEED", "SeedSummary", "demo_user", "row_counts", "seed_demo"]
