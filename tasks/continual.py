"""The built-in offline suite `continual`: four tasks generated deterministically from small tables.

No network and no third-party data: every example comes from the tables in this module and one
fixed generator seed (`random.Random(SEED)`, never the global generator), so every user and every
method sees exactly the same examples in the same order. Each split is shuffled once, so the first
N examples (`--limit N`) are a representative sample; options of choice tasks are shuffled too.
Answers start with a single space and prompts never end with one. The tasks are learned in this
order:

1. `fictional-capitals` (choice among 4 cities; 300 train, 100 test). The capitals of 50
   invented countries ("The capital of Draelvania is" -> " Troxir"). The three distractors are
   capitals of other invented countries, balanced so that every city is an option equally often
   and no name can win on plausibility alone. Training states every fact in six phrasings; the
   test asks every fact in two further, held-out phrasings ("If you visit the capital of
   Draelvania, you will be in"), so the knowledge has to transfer to new wording rather than be
   matched verbatim. The base model cannot know these facts (chance is 25%). Learning them writes
   new associations into exactly the prompt pattern of the real capital probes ("The capital of
   France is"), so it interferes directly with general knowledge.
2. `word-codes` (choice among 8 codes; 480 train, 96 test). Words of eight semantic categories
   (animals, fruits, vehicles, tools, body parts, clothing, musical instruments, professions) map
   to arbitrary two-token code words, e.g. "Word: banana\nCode:" -> " quor" (every fruit). Train
   (20 words per category, three prompt templates) and test (12 other words per category, the
   first template) use disjoint words, so the model must learn the category-to-code rule, which
   it can because it already knows what the words mean. Chance is 12.5%. One training template,
   "The code for banana is", has the shape of a fact probe, so the new label vocabulary leaks
   into general knowledge ("The capital of Spain is" -> " pesk").
3. `number-words` (exact match; 500 train, 100 test). "Write 437 in words:" -> " four hundred
   thirty-seven" for numbers 1 to 999, with disjoint train and test numbers. The model knows the
   number words but not this format; the compositional rule (hundreds, tens-units with a hyphen,
   no "and") is learned from examples and must generalise to unseen numbers.
4. `arithmetic` (exact match; 500 train, 100 test). "Q: 23 + 48 =\nA:" -> " 71" for operands 10
   to 99; no unordered operand pair is in both splits. It writes numbers as digits straight
   after a task that writes them as words, so the two number tasks interfere with each other.

Measured on SmolLM2-135M-Instruct (Q4_1 GGUF, float32, CPU), test accuracy of the base model and
after 150 steps of plain LoRA (rank 8 on all attention and MLP projections, batch 8, lr 5e-4,
each task trained alone from the base model), with the probe facts (74, all known at base) still
known afterwards:

    task                 base   after 150 steps   probe facts still known
    fictional-capitals   0.27   0.94              21 / 74
    word-codes           0.08   0.98               4 / 74
    number-words         0.00   0.94              70 / 74
    arithmetic           0.02   0.87              67 / 74

Scoring: "choice" is the arg-max of the summed option log-likelihood, "exact" is greedy decoding
compared after normalisation (first line, lower-case, collapsed whitespace).
"""
from __future__ import annotations

import random
from pathlib import Path

from hipbench.suite import Example, Suite, SuiteSpec, TaskData
from hipbench.tasks.general import preservation_set, probe_set

SEED = 20240611

# Invented names (checked by hand not to be real places); row i's capital is CITIES[i].
COUNTRIES = [
    "Mistora", "Brexulia", "Draelvania", "Toloria", "Reirestan", "Vemora", "Thalvenia", "Trivonia", "Fyrenia",
    "Lyxora", "Gelvenia", "Thothoria", "Trelvania", "Zondora", "Treisheria", "Kelvovia", "Tougeria", "Jouvenia",
    "Derkonia", "Skeilora", "Dylvith", "Maezeria", "Zoulvith", "Krouzora", "Dazand", "Louvand", "Paelaria",
    "Nilvoria", "Skamith", "Lizestan", "Peigovar", "Skenaria", "Feixulia", "Kreithora", "Ponoria", "Gimora",
    "Kandovar", "Vivovia", "Bistulia", "Naenand", "Peiraria", "Theilestan", "Dondavia", "Dralvavia",
    "Trethenia", "Bexestan", "Zeinora", "Kraelveria", "Skerovar", "Skoundaria",
]
CITIES = [
    "Krourkova", "Tozath", "Troxir", "Feirond", "Saerent", "Remul", "Wegholm", "Haenath", "Foumgard", "Pounent",
    "Geirkond", "Meimane", "Mezane", "Baerkir", "Sastix", "Droggard", "Duvmor", "Yivholm", "Rustholm",
    "Trylvova", "Haerath", "Bristheim", "Krardheim", "Wurent", "Duxgard", "Sathesh", "Krilent", "Drivmor",
    "Thurkora", "Lourkvik", "Kraeshton", "Kralton", "Jyrkora", "Toumir", "Dreirdova", "Treirkul", "Homix",
    "Glistane", "Brilheim", "Thustvik", "Brerdond", "Tulvent", "Hulir", "Givir", "Buthix", "Traemmor",
    "Lothvik", "Baestheim", "Skurkora", "Kyshton",
]
CAPITAL_TRAIN = [
    "The capital of {c} is",
    "{c}'s capital city is",
    "The government of {c} sits in the city of",
    "Q: What is the capital of {c}?\nA:",
    "The largest city in {c}, and its capital, is",
    "Every year, thousands of tourists travel to {c} to see its capital,",
]
CAPITAL_TEST = [
    "If you visit the capital of {c}, you will be in",
    "In {c}, the national parliament meets in the capital city of",
]

# Category -> (code, 32 unambiguous common words). Codes are nonsense, two tokens each in SmolLM2.
CATEGORIES = {
    "animal": (" zib", [
        "dog", "cat", "horse", "cow", "sheep", "pig", "goat", "lion", "tiger", "bear", "wolf", "fox", "rabbit",
        "mouse", "elephant", "giraffe", "zebra", "monkey", "deer", "camel", "donkey", "squirrel", "kangaroo",
        "leopard", "hippopotamus", "rhinoceros", "otter", "beaver", "hamster", "panda", "moose", "badger"]),
    "fruit": (" quor", [
        "apple", "banana", "pear", "grape", "cherry", "peach", "plum", "mango", "lemon", "strawberry",
        "raspberry", "blueberry", "pineapple", "watermelon", "melon", "apricot", "kiwi", "papaya", "coconut", "fig",
        "pomegranate", "grapefruit", "nectarine", "tangerine", "blackberry", "cranberry", "guava", "lychee",
        "gooseberry", "persimmon", "clementine", "quince"]),
    "vehicle": (" mave", [
        "car", "bus", "truck", "bicycle", "motorcycle", "train", "tram", "taxi", "van", "tractor", "scooter",
        "airplane", "helicopter", "boat", "ship", "submarine", "canoe", "yacht", "ferry", "ambulance", "jeep",
        "limousine", "minibus", "sailboat", "rocket", "glider", "sled", "wagon", "carriage", "lorry", "hovercraft",
        "kayak"]),
    "tool": (" drin", [
        "hammer", "screwdriver", "wrench", "saw", "drill", "chisel", "pliers", "shovel", "rake", "axe", "spanner",
        "crowbar", "trowel", "mallet", "sander", "hoe", "pickaxe", "clamp", "vise", "scissors", "sickle", "scythe",
        "awl", "spade", "hatchet", "wheelbarrow", "anvil", "grinder", "stapler", "tweezers", "ladder", "pitchfork"]),
    "body part": (" pesk", [
        "head", "arm", "leg", "hand", "foot", "finger", "toe", "knee", "elbow", "shoulder", "neck", "nose", "ear",
        "eye", "mouth", "lip", "tongue", "tooth", "chin", "cheek", "forehead", "ankle", "wrist", "hip", "thumb",
        "heel", "stomach", "chest", "eyebrow", "spine", "skull", "kidney"]),
    "clothing": (" vok", [
        "shirt", "trousers", "jeans", "dress", "skirt", "jacket", "coat", "sweater", "sock", "shoe", "boot", "hat",
        "scarf", "glove", "belt", "tie", "blouse", "vest", "shorts", "pajamas", "sandal", "slipper", "hoodie",
        "cardigan", "raincoat", "mitten", "overalls", "tuxedo", "bikini", "uniform", "apron", "cap"]),
    "instrument": (" fex", [
        "piano", "guitar", "violin", "cello", "drum", "flute", "trumpet", "saxophone", "clarinet", "harp",
        "trombone", "banjo", "ukulele", "accordion", "harmonica", "oboe", "tuba", "xylophone", "bagpipes",
        "mandolin", "viola", "bassoon", "tambourine", "cymbal", "sitar", "lute", "bugle", "piccolo", "synthesizer",
        "marimba", "castanets", "didgeridoo"]),
    "profession": (" glim", [
        "teacher", "doctor", "nurse", "farmer", "pilot", "baker", "lawyer", "dentist", "engineer", "plumber",
        "carpenter", "electrician", "chef", "waiter", "firefighter", "soldier", "judge", "mechanic", "banker",
        "architect", "painter", "singer", "actor", "journalist", "scientist", "librarian", "pharmacist", "surgeon",
        "butcher", "tailor", "cashier", "gardener"]),
}
WORDS_TRAIN_PER_CATEGORY = 20
CODE_TRAIN = ["Word: {w}\nCode:", "The code for {w} is", "Q: Which code goes with the word {w}?\nA:"]
CODE_TEST = "Word: {w}\nCode:"

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]

N_TRAIN, N_TEST = 500, 100


def number_in_words(n: int) -> str:
    """American style without "and": 437 -> "four hundred thirty-seven" (1 <= n <= 999)."""
    if not 1 <= n <= 999:
        raise ValueError(f"number_in_words covers 1..999, got {n}")
    hundreds, rest = divmod(n, 100)
    parts = [f"{ONES[hundreds]} hundred"] if hundreds else []
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        parts.append(TENS[tens] + (f"-{ONES[ones]}" if ones else ""))
    elif rest:
        parts.append(ONES[rest])
    return " ".join(parts)


def _shuffled(rng: random.Random, items: list) -> tuple:
    items = list(items)
    rng.shuffle(items)
    return tuple(items)


def fictional_facts(rng: random.Random) -> TaskData:
    # Balanced distractors: along a random cycle of the cities, each fact's distractors are the next
    # three cities, so every city is an option exactly four times (once as the answer) and a model
    # that merely prefers some invented names over others scores chance.
    cycle = list(_shuffled(rng, range(len(CITIES))))
    distractors = {cycle[j]: [CITIES[cycle[(j + k) % len(cycle)]] for k in (1, 2, 3)] for j in range(len(cycle))}
    train, test = [], []
    for index, (country, city) in enumerate(zip(COUNTRIES, CITIES, strict=True)):
        options = _shuffled(rng, [f" {o}" for o in (city, *distractors[index])])
        for template in CAPITAL_TRAIN:
            train.append(Example(template.format(c=country), f" {city}", options))
        for template in CAPITAL_TEST:
            test.append(Example(template.format(c=country), f" {city}", options))
    return TaskData("fictional-capitals", "choice", _shuffled(rng, train), _shuffled(rng, test),
                    "capitals of 50 invented countries; 6 training phrasings, 2 held-out test phrasings")


def word_category_codes(rng: random.Random) -> TaskData:
    codes = [code for code, _ in CATEGORIES.values()]
    train, test = [], []
    for code, words in CATEGORIES.values():
        words = list(_shuffled(rng, words))
        for word in words[:WORDS_TRAIN_PER_CATEGORY]:
            for template in CODE_TRAIN:
                train.append(Example(template.format(w=word), code, _shuffled(rng, codes)))
        for word in words[WORDS_TRAIN_PER_CATEGORY:]:
            test.append(Example(CODE_TEST.format(w=word), code, _shuffled(rng, codes)))
    return TaskData("word-codes", "choice", _shuffled(rng, train), _shuffled(rng, test),
                    "an arbitrary code per semantic category (8 categories); test words held out")


def number_words(rng: random.Random) -> TaskData:
    numbers = _shuffled(rng, range(1, 1000))
    make = lambda n: Example(f"Write {n} in words:", f" {number_in_words(n)}")  # noqa: E731
    return TaskData("number-words", "exact", tuple(map(make, numbers[N_TEST:N_TEST + N_TRAIN])),
                    tuple(map(make, numbers[:N_TEST])), "numbers 1-999 written in words; test numbers held out")


def arithmetic(rng: random.Random) -> TaskData:
    pairs = _shuffled(rng, [(a, b) for a in range(10, 100) for b in range(a, 100)])  # unordered pairs
    oriented = [p if rng.random() < 0.5 else (p[1], p[0]) for p in pairs[:N_TEST + N_TRAIN]]
    make = lambda p: Example(f"Q: {p[0]} + {p[1]} =\nA:", f" {p[0] + p[1]}")  # noqa: E731
    return TaskData("arithmetic", "exact", tuple(map(make, oriented[N_TEST:])), tuple(map(make, oriented[:N_TEST])),
                    "two-digit addition (operands 10-99); test operand pairs held out")


def load(data_dir: Path | None = None) -> Suite:
    """Build the suite; `data_dir` is unused (everything is generated)."""
    rng = random.Random(SEED)
    tasks = (fictional_facts(rng), word_category_codes(rng), number_words(rng), arithmetic(rng))
    definition = {
        "generator": f"hipbench.tasks.continual, random.Random({SEED}), tasks built in order",
        "generator_seed": SEED,
        "tasks": [{"name": t.name, "scoring": t.scoring, "train": len(t.train), "test": len(t.test),
                   "description": t.description} for t in tasks],
        "templates": {
            "fictional-capitals": {"countries": len(COUNTRIES), "train": CAPITAL_TRAIN, "test": CAPITAL_TEST,
                                "options": 4},
            "word-codes": {"train": CODE_TRAIN, "test": CODE_TEST,
                                    "codes": {cat: code for cat, (code, _) in CATEGORIES.items()}},
            "number-words": {"prompt": "Write {n} in words:", "range": [1, 999]},
            "arithmetic": {"prompt": "Q: {a} + {b} =\nA:", "operands": [10, 99]},
        },
        "scoring": {"choice": "arg-max summed option log-likelihood",
                    "exact": "greedy decoding, normalised exact match"},
        "general_sets": "hipbench.tasks.general: even table rows preserve, odd rows probe",
    }
    return Suite("continual", tasks, preservation_set(), probe_set(), definition)


SUITE = SuiteSpec(name="continual",
                  description="4 generated offline tasks: fictional facts, word category codes, number words, "
                              "two-digit addition",
                  load=load)
