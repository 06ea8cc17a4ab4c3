"""Edit requests from the files users bring: EasyEdit request lists, ZsRE and CounterFact.

`load_edit_file(path)` reads a JSON list (or a `.jsonl` file, one object per line), detects the
format from the first record and converts every record to an `EditRequest`:

- **EasyEdit** request lists (Wang et al., 2024, "EasyEdit"; also the KnowEdit files): `prompt`,
  `target_new`, optional `subject`, `ground_truth`, `rephrase_prompt` (or `rephrase_prompts`),
  `locality_prompt`/`locality_ground_truth`, `portability_prompt`/`portability_ground_truth`, and
  the nested `locality`/`portability` dicts `{kind: {"prompt", "ground_truth"}}` or
  `{kind: [{"prompt", "ground_truth"}, ...]}`. A ground truth given as a list of aliases (or a list
  of lists) counts by its first entry; EasyEdit's placeholder `<|endoftext|>` means "none".
- **ZsRE** as MEND and EasyEdit ship it (`zsre_mend_eval.json`; Mitchell et al., 2022): `src`,
  `alt`, `rephrase`, `loc`, `loc_ans`, `answers` (the first is the ground truth), `subject`, and
  EasyEdit's optional `portability: {"New Question", "New Answer"}`.
- **CounterFact** (Meng et al., 2022, ROME): `requested_rewrite` with `prompt` (a template with
  `{}` for the subject), `subject`, `target_new.str`, `target_true.str`; `paraphrase_prompts`
  (generalization) and `neighborhood_prompts` (locality; their answer is `target_true`, which the
  neighbours share by construction).

Answers become continuations with one leading space, as EasyEdit and ROME tokenize them
(`prompt + " " + target`). A malformed record raises `SuiteDataError` naming the file, the record
index (0-based) and the field, in one line.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from hipbench.suite import EditRequest, Example, SuiteDataError

EASYEDIT, ZSRE, COUNTERFACT = "easyedit", "zsre", "counterfact"
NO_ANSWER = "<|endoftext|>"  # EasyEdit's ground truth when there is none


class _Record:
    """One record and where it came from, so every error names file, index and field."""

    def __init__(self, path: Path, index: int, data: Any) -> None:
        if not isinstance(data, dict):
            raise SuiteDataError(f"{path}: record {index} is not a JSON object (got {_kind(data)})")
        self.path, self.index, self.data = path, index, data

    def error(self, field: str, problem: str) -> SuiteDataError:
        return SuiteDataError(f"{self.path}: record {self.index}: field '{field}' {problem}")

    def get(self, field: str, required: bool = True) -> Any:
        """The value at a dotted path (`requested_rewrite.target_new.str`); None when optional and absent."""
        value: Any = self.data
        for part in field.split("."):
            if not isinstance(value, dict) or part not in value:
                if required:
                    raise self.error(field, "is missing")
                return None
            value = value[part]
        return value

    def text(self, field: str, required: bool = True) -> str | None:
        value = self.get(field, required)
        if value is None and not required:
            return None
        if not isinstance(value, str):
            raise self.error(field, f"must be a string, got {_kind(value)}")
        if not value.strip():
            raise self.error(field, "is empty")
        return value

    def texts(self, field: str) -> tuple[str, ...]:
        """A string or a list of strings (absent: none)."""
        value = self.get(field, required=False)
        if value is None:
            return ()
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
            raise self.error(field, f"must be a non-empty string or a list of them, got {_kind(value)}")
        return tuple(values)


def _kind(value: Any) -> str:
    return "null" if value is None else f"a JSON {type(value).__name__}"


def continuation(text: str) -> str:
    """An answer as appended to its prompt: stripped, one leading space."""
    return " " + text.strip()


def prompt_text(text: str) -> str:
    return text.rstrip()


def _first_answer(record: _Record, field: str, value: Any) -> str:
    """A ground truth that may be a list of aliases, or a list of such lists: the first string."""
    while isinstance(value, list) and value:
        value = value[0]
    if not isinstance(value, str) or not value.strip():
        raise record.error(field, f"must be a non-empty string or list of strings, got {_kind(value)}")
    return value


def _pairs(record: _Record, field: str, prompts: Any, answers: Any) -> list[Example]:
    """Prompt/answer pairs from EasyEdit's shapes: two strings, or two equally long lists (a single
    answer may serve a list of prompts)."""
    if isinstance(prompts, str):
        return [Example(prompt_text(prompts), continuation(_first_answer(record, f"{field}.ground_truth", answers)))]
    if not isinstance(prompts, list) or not all(isinstance(p, str) and p.strip() for p in prompts):
        raise record.error(f"{field}.prompt", f"must be a string or a list of strings, got {_kind(prompts)}")
    if isinstance(answers, list) and len(answers) == len(prompts) and len(prompts) > 1:
        return [Example(prompt_text(p), continuation(_first_answer(record, f"{field}.ground_truth", a)))
                for p, a in zip(prompts, answers)]
    answer = continuation(_first_answer(record, f"{field}.ground_truth", answers))
    return [Example(prompt_text(p), answer) for p in prompts]


def _nested(record: _Record, field: str) -> list[Example]:
    """EasyEdit's `{kind: {"prompt", "ground_truth"}}` or `{kind: [{...}, ...]}`."""
    value = record.get(field, required=False)
    if value is None:
        return []
    if not isinstance(value, dict):
        raise record.error(field, f"must be an object of {{kind: {{prompt, ground_truth}}}}, got {_kind(value)}")
    return [example for kind, entries in value.items()
            for example in _keyed_pairs(record, f"{field}.{kind}", entries, "prompt", "ground_truth",
                                        "prompt and ground_truth")]


def _keyed_pairs(record: _Record, where: str, entries: Any, prompt_key: str, answer_key: str,
                 described: str) -> list[Example]:
    """One object, or a list of them, each holding a prompt and its answer under the given keys
    (EasyEdit's nested locality/portability, ZsRE's portability); errors name the exact entry."""
    examples = []
    for position, entry in enumerate(entries if isinstance(entries, list) else [entries]):
        at = where + (f"[{position}]" if isinstance(entries, list) else "")
        if not isinstance(entry, dict):
            raise record.error(at, f"must be an object with {described}, got {_kind(entry)}")
        for key in (prompt_key, answer_key):
            if key not in entry:
                raise record.error(f"{at}.{key}", "is missing")
        examples += _pairs(record, at, entry[prompt_key], entry[answer_key])
    return examples


def _flat(record: _Record, field: str) -> list[Example]:
    """`{field}_prompt` with `{field}_ground_truth`."""
    prompts = record.get(f"{field}_prompt", required=False)
    if prompts is None:
        return []
    answers = record.get(f"{field}_ground_truth", required=False)
    if answers is None:
        raise record.error(f"{field}_ground_truth", f"is missing (needed by {field}_prompt)")
    return _pairs(record, field, prompts, answers)


def from_easyedit(record: _Record) -> EditRequest:
    ground = record.get("ground_truth", required=False)
    ground_truth = None if ground is None else _first_answer(record, "ground_truth", ground)
    rephrases = record.texts("rephrase_prompt") + record.texts("rephrase_prompts") + record.texts("rephrase")
    subject = record.text("subject", required=False) or ""
    return EditRequest(
        prompt=prompt_text(record.text("prompt")), subject=subject.strip(),
        target_new=continuation(_first_answer(record, "target_new", record.get("target_new"))),
        ground_truth=None if ground_truth in (None, NO_ANSWER) else continuation(ground_truth),
        rephrase_prompts=tuple(prompt_text(p) for p in rephrases),
        locality=tuple(_flat(record, "locality") + _nested(record, "locality")),
        portability=tuple(_flat(record, "portability") + _nested(record, "portability")))


def from_zsre(record: _Record) -> EditRequest:
    answers = record.get("answers", required=False)
    if answers is not None and (not isinstance(answers, list) or not answers
                                or not all(isinstance(a, str) and a.strip() for a in answers)):
        raise record.error("answers", f"must be a non-empty list of strings, got {_kind(answers)}")
    locality = []
    if record.get("loc", required=False) is not None:
        locality.append(Example(prompt_text(record.text("loc")), continuation(record.text("loc_ans"))))
    port = record.get("portability", required=False)
    portability = [] if port is None else _keyed_pairs(record, "portability", port, "New Question", "New Answer",
                                                       "'New Question' and 'New Answer'")
    return EditRequest(
        prompt=prompt_text(record.text("src")), subject=(record.text("subject", required=False) or "").strip(),
        target_new=continuation(record.text("alt")),
        ground_truth=continuation(answers[0]) if answers else None,
        rephrase_prompts=tuple(prompt_text(p) for p in record.texts("rephrase")),
        locality=tuple(locality), portability=tuple(portability))


def from_counterfact(record: _Record) -> EditRequest:
    template = record.text("requested_rewrite.prompt")
    if "{}" not in template:
        raise record.error("requested_rewrite.prompt", "must contain '{}' where the subject goes")
    subject = record.text("requested_rewrite.subject")
    true = continuation(record.text("requested_rewrite.target_true.str"))
    return EditRequest(
        prompt=prompt_text(template.replace("{}", subject)), subject=subject,
        target_new=continuation(record.text("requested_rewrite.target_new.str")), ground_truth=true,
        rephrase_prompts=tuple(prompt_text(p) for p in record.texts("paraphrase_prompts")),
        locality=tuple(Example(prompt_text(p), true) for p in record.texts("neighborhood_prompts")))


CONVERTERS: dict[str, Callable[[_Record], EditRequest]] = {
    EASYEDIT: from_easyedit, ZSRE: from_zsre, COUNTERFACT: from_counterfact}


def detect_format(record: Any) -> str | None:
    """The format a record belongs to, by its identifying fields; None when none matches."""
    if not isinstance(record, dict):
        return None
    if "requested_rewrite" in record:
        return COUNTERFACT
    if "src" in record and "alt" in record:
        return ZSRE
    if "prompt" in record and "target_new" in record:
        return EASYEDIT
    return None


def read_records(path: Path) -> list:
    """A JSON list of records, or JSON lines when the file ends in `.jsonl`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise SuiteDataError(f"{path}: cannot read ({error.strerror or error})") from None
    except UnicodeDecodeError as error:
        raise SuiteDataError(f"{path}: not UTF-8 text (byte {error.start})") from None
    if Path(path).suffix == ".jsonl":
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise SuiteDataError(f"{path}: invalid JSON on line {number} column {error.colno}: "
                                         f"{error.msg}") from None
        return records
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise SuiteDataError(f"{path}: invalid JSON at line {error.lineno} column {error.colno}: {error.msg}") from None
    if not isinstance(data, list):
        raise SuiteDataError(f"{path}: expected a JSON list of edit requests, got {_kind(data)}")
    return data


def load_edit_file(path: Path) -> tuple[str, tuple[EditRequest, ...]]:
    """(detected format, requests) of an edit data file; every record must be of the first one's format."""
    path = Path(path)
    records = read_records(path)
    if not records:
        raise SuiteDataError(f"{path}: no edit requests (empty list)")
    kind = detect_format(records[0])
    if kind is None:
        raise SuiteDataError(f"{path}: record 0: unknown edit format (expected EasyEdit 'prompt' + 'target_new', "
                             f"ZsRE 'src' + 'alt', or CounterFact 'requested_rewrite')")
    convert = CONVERTERS[kind]
    requests = []
    for index, data in enumerate(records):
        record = _Record(path, index, data)
        found = detect_format(data)
        if found != kind:
            identifying = {EASYEDIT: "prompt' + 'target_new", ZSRE: "src' + 'alt", COUNTERFACT: "requested_rewrite"}
            missing = {EASYEDIT: "target_new" if "prompt" in data else "prompt",
                       ZSRE: "alt" if "src" in data else "src", COUNTERFACT: "requested_rewrite"}[kind]
            raise record.error(missing, f"is missing (file detected as {kind} from record 0, "
                                        f"which has '{identifying[kind]}')")
        requests.append(convert(record))
    return kind, tuple(requests)
