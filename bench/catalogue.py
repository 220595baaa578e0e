"""How long the live-catalogue entity matcher takes per message, and how long a catalogue takes
to build, for catalogues of 30 (the unseen company) to 20,000 products (issue 16; the reply
target is 100 ms for the whole turn, so the matcher should stay within a few ms).

The catalogue is synthetic but shaped like a real one: two- to four-word names drawn from a few
hundred words, an alias for some, 500 suppliers and 40 locations. The messages are the unseen
company's held-out set (tests/nlu/unseen_company.yml), typos and all. Prints per size: build
time, and p50 / p95 / max per message. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from misybot.nlu.catalogue import Catalogue, catalogue_terms  # noqa: E402
from testkit.measure import percentile  # noqa: E402

WORDS = (  # noqa: SIM905
    "organic roasted salted smoked frozen fresh dried spicy sweet sour classic premium mini "
    "large small heavy duty stainless steel copper brass nylon cotton linen wool leather vinyl "
    "rubber ceramic glass bamboo cedar oak pine maple walnut cherry lemon lime orange mango "
    "banana apple pear peach plum grape berry vanilla cocoa coffee tea ginger garlic onion "
    "tomato pepper chilli basil oregano thyme rosemary mint honey sugar salt flour rice pasta "
    "noodle bean lentil pea corn oat barley rye wheat almond cashew peanut pecan hazelnut "
    "pistachio sesame sunflower pumpkin olive coconut soy milk cream butter cheese yoghurt egg "
    "chicken beef pork lamb salmon tuna cod shrimp crab bread bagel muffin cookie cracker chip "
    "sauce paste syrup juice water soda beer wine cider vinegar oil soap shampoo lotion gel "
    "spray wipe towel napkin cup plate bowl lid straw bag box bottle jar can tin tube pump "
    "brush sponge glove mask filter valve hose pipe fitting bolt nut screw washer nail hinge "
    "bracket clamp cable plug socket switch bulb battery charger adapter mouse keyboard "
    "monitor printer toner paper pen pencil marker notebook folder binder stapler tape label"
).split()
UNITS = ("", "", "", " 250g", " 1kg", " 500ml", " 2l", " 12oz", " m8", " 5w30", " xl")


def synthetic(size: int, rng: random.Random) -> Catalogue:
    products, seen = [], set()
    while len(products) < size:
        name = " ".join(rng.sample(WORDS, rng.choice((2, 2, 3, 3, 4)))) + rng.choice(UNITS)
        if name in seen:
            continue
        seen.add(name)
        aliases = [" ".join(name.split()[-2:])] if rng.random() < 0.3 else None
        products.append((f"P{len(products):05d}", name, aliases))
    suppliers = [f"{rng.choice(WORDS).title()} {rng.choice(WORDS).title()} Ltd" for _ in range(500)]
    locations = [(f"Site {i}", f"S{i:02d}", None) for i in range(40)]
    return Catalogue(catalogue_terms(products, suppliers, locations))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="30,1000,5000,20000")
    args = parser.parse_args()
    from rasa.shared.nlu.training_data.loading import load_data

    messages = [
        m.get("text") for m in load_data(str(ROOT / "tests/nlu/unseen_company.yml")).nlu_examples
    ]
    rng = random.Random(16)
    for size in (int(s) for s in args.sizes.split(",")):
        started = time.perf_counter()
        catalogue = synthetic(size, rng)
        built = time.perf_counter() - started
        timings = []
        for text in messages:
            started = time.perf_counter()
            catalogue.find(text)
            timings.append((time.perf_counter() - started) * 1000)
        print(
            f"catalogue products={size} build={built:.2f}s per-message "
            f"p50={percentile(timings, 0.5):.2f}ms p95={percentile(timings, 0.95):.2f}ms "
            f"max={max(timings):.2f}ms messages={len(messages)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
