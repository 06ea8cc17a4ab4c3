"""The built-in `edit` suite: counterfactual edits of facts the default model knows.

Each row of a fact table in `hipbench.tasks.edit_facts` (capitals, cities' and landmarks'
countries, countries' continents, chemical symbols, authors, official languages, currencies,
product makers) becomes one request, "The capital of Poland is the city of" -> " Cairo", whose
`target_new` is another object of the same relation drawn with `random.Random(SEED)`, never the
true one. Every fourth row of a table (index % 4 == 3) is never edited: these rows are the
**locality anchors**. Each request gets two locality prompts, an anchor of its own relation and
one of another relation (CounterFact's neighbourhood and EasyEdit's relation specificity), with
the anchors' true answers; since no request edits an anchor, no edit in a batch or a sequence
legitimately changes another request's locality prompts.

Each relation's edit prompt is the wording, of two to six tried, whose answers SmolLM2-135M-Instruct
predicted most often; two other wordings are its rephrases (generalization, never trained on).
Portability (one hop beyond the edited fact) exists where the tables allow a single answer:
- capitals, reversed: after "The capital of Poland is the city of Cairo", "Cairo is the capital
  of" -> " Poland";
- chemical symbols, reversed: after "The chemical symbol of helium is Fe",
  "The chemical symbol Fe stands for" -> " helium";
- cities and landmarks: after "Munich is a city in the country of France", "In Munich, most people
  speak" -> " French" ("Near the Louvre, ..." for landmarks); targets are drawn only among
  countries whose language differs from the true one and is not English, which the base model
  already answers for most such prompts (a smoke run scored the base model 1.0 on one).
The reversed prompts are ambiguous in the real world (Cairo is also Egypt's capital); under the
counterfactual the edited subject is the answer, as in EasyEdit's "logical generalization".

Requests are interleaved round-robin over the relations, so any prefix (`--num-edits N`,
`--limit`) mixes every kind of fact.

**Extension.** The tables above made the 439 requests that the published records drew from
(`PUBLISHED_REQUESTS`); of them SmolLM2 knows about half. `EXTENSION` appends more tables
(`hipbench.tasks.edit_facts_extension`: more rows of the same relations, with their prompts, and
four relations of their own, a company's, a region's and a person's country and a US city's state,
each with the best of three to five wordings tried, as above) whose requests come after the 439,
interleaved among themselves, with targets and locality anchors drawn from the same generator after
the published draws. The published requests keep their order, targets and anchors exactly (a test
pins their hash), and the validation hold-out (`hipbench.suite.hold_out_validation`) draws them as
when they were all there was. City and landmark targets of the extension may be any country with a
known language (`ALL_COUNTRY_LANGUAGES`); the published ones keep the original map.
`scripts/count_known_edits.py` counts what SmolLM2 knows (`leaderboards/checks/edit-known-smollm2.txt`).

The protocol keeps only requests whose `ground_truth` the
base model predicts under teacher forcing (the filter and its pass rate are recorded), then takes
the first N. Everything is fixed data: no randomness beyond the seeded draws, no network.
"""
from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from itertools import zip_longest
from pathlib import Path

from hipbench.suite import APPENDED_AFTER, EditRequest, Example, Suite, SuiteSpec
from hipbench.tasks import edit_facts as facts
from hipbench.tasks import edit_facts_extension as more
from hipbench.tasks.general import preservation_set, probe_set

SEED = 5
ANCHOR_EVERY = 4  # rows with index % 4 == 3 are locality anchors, never edited
BASE_FILTER = "base_predicts_ground_truth"
DEFAULT_GUESS = "English"  # the default model's answer to "In X, most people speak" almost whatever X is


@dataclass(frozen=True)
class Relation:
    """A fact table with its edit prompt, rephrases and, where sensible, a portability prompt.

    `{s}` is the subject and `{o}` the object. `portability` is `(template, answer)` where the
    answer is "subject" (the reversed relation) or "language" (the new country's language).
    """

    name: str
    rows: tuple[tuple[str, str], ...]
    prompt: str
    rephrases: tuple[str, ...]
    portability: tuple[str, str] | None = None
    languages: Mapping[str, str] = field(default_factory=lambda: facts.COUNTRY_LANGUAGE)  # "language" portability


RELATIONS = (
    Relation("capital", tuple(facts.CAPITALS), "The capital of {s} is the city of",
             ("The capital of {s} is", "{s}'s capital city is"), ("{o} is the capital of", "subject")),
    Relation("city-country", tuple(facts.CITY_COUNTRIES), "{s} is a city in the country of",
             ("{s} is located in the country of", "Q: In which country is {s}?\nA:"),
             ("In {s}, most people speak", "language")),
    Relation("continent", tuple(facts.CONTINENTS), "{s} is a country in the continent of",
             ("{s} is located on the continent of", "Q: On which continent is {s}?\nA:")),
    Relation("symbol", tuple(facts.SYMBOLS), "The chemical symbol of {s} is",
             ("The chemical symbol for {s} is", "The element {s} has the chemical symbol"),
             ("The chemical symbol {o} stands for", "subject")),
    Relation("author", tuple(facts.AUTHORS), "The novel {s} was written by",
             ("{s} was written by", "Q: Who wrote {s}?\nA:")),
    Relation("language", tuple(facts.LANGUAGES), "The official language of {s} is",
             ("Q: What language is spoken in {s}?\nA:", "In {s}, people speak")),
    Relation("currency", tuple(facts.CURRENCIES), "The official currency of {s} is the",
             ("The currency of {s} is the", "In {s}, people pay with the")),
    Relation("maker", tuple(facts.MAKERS), "Q: Which company makes {s}?\nA:",
             ("{s} is made by", "{s} is manufactured by")),
    Relation("landmark", tuple(facts.LANDMARKS), "{s} is located in the country of",
             ("{s} can be found in the country of", "Q: In which country is {s}?\nA:"),
             ("Near {s}, most people speak", "language")),
)
PUBLISHED_REQUESTS = 439  # requests of RELATIONS: what every record made before EXTENSION drew from


def _more(name: str, rows: list[tuple[str, str]]) -> Relation:
    """An extension table of a published relation: its prompts, with the larger language map."""
    published = next(r for r in RELATIONS if r.name == name)
    return replace(published, rows=tuple(rows), languages=more.ALL_COUNTRY_LANGUAGES)


EXTENSION = (
    _more("capital", more.MORE_CAPITALS),
    _more("capital", more.STATE_CAPITALS),
    _more("capital", more.PROVINCE_CAPITALS),
    _more("city-country", more.MORE_CITY_COUNTRIES),
    _more("continent", more.MORE_CONTINENTS),
    _more("symbol", more.MORE_SYMBOLS),
    _more("author", more.MORE_AUTHORS),
    _more("language", more.MORE_LANGUAGES),
    _more("currency", more.MORE_CURRENCIES),
    _more("maker", more.MORE_MAKERS),
    _more("landmark", more.MORE_LANDMARKS),
    Relation("company-country", tuple(more.COMPANY_COUNTRIES), "The company {s} is based in the country of",
             ("{s} is a company from the country of", "{s} is a company based in the country of")),
    Relation("city-state", tuple(more.CITY_STATES), "{s} is located in the US state of",
             ("{s} is a city in the state of", "{s} is a city in the US state of")),
    Relation("region-country", tuple(more.REGION_COUNTRIES), "{s} is a region in the country of",
             ("{s} is located in the country of", "{s} is part of the country of")),
    Relation("person-country", tuple(more.PERSON_COUNTRIES), "{s} is a famous person from the country of",
             ("{s} was born in the country of", "{s} came from the country of")),
)


def sentence(template: str, subject: str, obj: str = "") -> str:
    """Fill a template; a sentence that starts with a lower-case subject ("the iPhone") is capitalised."""
    text = template.format(s=subject, o=obj)
    return text[:1].upper() + text[1:]


def is_anchor(index: int) -> bool:
    return index % ANCHOR_EVERY == ANCHOR_EVERY - 1


def _targets(relation: Relation, subject: str, truth: str) -> list[str]:
    """Objects a request may be moved to: the relation's other objects (for cities and landmarks,
    only countries whose language is known, differs from the true country's and is not English)."""
    objects = sorted({obj for _, obj in relation.rows} - {truth})
    if relation.portability and relation.portability[1] == "language":
        old = relation.languages.get(truth)
        objects = [o for o in objects if relation.languages.get(o) not in (None, old, DEFAULT_GUESS)]
    return objects


def _portability(relation: Relation, subject: str, new: str) -> tuple[Example, ...]:
    if relation.portability is None:
        return ()
    template, kind = relation.portability
    answer = subject if kind == "subject" else relation.languages[new]
    return (Example(sentence(template, subject, new), f" {answer}"),)


def _anchors(relations: tuple[Relation, ...]) -> dict[str, list[Example]]:
    """Relation name -> its anchor rows as locality prompts with their true answers (the tables
    of one name, in order)."""
    anchors: dict[str, list[Example]] = {}
    for r in relations:
        anchors.setdefault(r.name, []).extend(Example(sentence(r.prompt, s), f" {o}")
                                              for i, (s, o) in enumerate(r.rows) if is_anchor(i))
    return anchors


def _requests(relations: tuple[Relation, ...], anchors: dict[str, list[Example]],
              rng: random.Random) -> list[EditRequest]:
    """Every non-anchor row of `relations` as a counterfactual request, interleaved round-robin;
    locality anchors come from `anchors` (one of the request's relation, one of another)."""
    per_relation = []
    for relation in relations:
        others = [name for name in anchors if name != relation.name]
        requests = []
        for index, (subject, truth) in enumerate(relation.rows):
            if is_anchor(index):
                continue
            new = rng.choice(_targets(relation, subject, truth))
            other = anchors[rng.choice(others)]
            locality = (rng.choice(anchors[relation.name]), rng.choice(other))
            requests.append(EditRequest(
                prompt=sentence(relation.prompt, subject), subject=subject, target_new=f" {new}",
                ground_truth=f" {truth}",
                rephrase_prompts=tuple(sentence(t, subject) for t in relation.rephrases),
                locality=locality, portability=_portability(relation, subject, new), relation=relation.name))
        per_relation.append(requests)
    return [r for group in zip_longest(*per_relation) for r in group if r is not None]


def build_requests(seed: int = SEED) -> tuple[EditRequest, ...]:
    """The published tables' requests exactly as before the extension (same draws, same order:
    positions 0 to PUBLISHED_REQUESTS - 1), then the extension tables' requests, interleaved among
    themselves, with targets and anchors drawn from the same generator after the published ones
    and anchors from every table."""
    rng = random.Random(seed)
    published = _requests(RELATIONS, _anchors(RELATIONS), rng)
    extension = _requests(EXTENSION, _anchors(RELATIONS + EXTENSION), rng)
    return tuple(published + extension)


def load(data_dir: Path | None = None) -> Suite:
    """Build the suite; `data_dir` is unused (everything is fixed data)."""
    requests = build_requests()
    definition = {
        "generator": f"hipbench.tasks.edit, random.Random({SEED})",
        "relations": [{"name": r.name, "rows": len(r.rows), "prompt": r.prompt, "rephrases": list(r.rephrases),
                       "portability": list(r.portability) if r.portability else None,
                       "requests": sum(1 for q in requests if q.relation == r.name)} for r in RELATIONS],
        "extension": [{"name": r.name, "rows": len(r.rows), "prompt": r.prompt} for r in EXTENSION],
        "requests": len(requests),
        APPENDED_AFTER: PUBLISHED_REQUESTS,  # the validation hold-out draws the two parts apart
        "locality": f"rows with index % {ANCHOR_EVERY} == {ANCHOR_EVERY - 1} are never edited; each request "
                    "has one anchor of its own relation and one of another",
        "order": "round-robin over relations",
        "filter": BASE_FILTER,
        "general_sets": "hipbench.tasks.general: even table rows preserve, odd rows probe",
    }
    return Suite("edit", (), preservation_set(), probe_set(), definition, edits=requests)


SUITE = SuiteSpec(name="edit",
                  description="counterfactual edits of facts the model knows (capitals, symbols, authors, ...); "
                              "use --edit-mode, --num-edits, --data",
                  load=load, protocol="edit")
