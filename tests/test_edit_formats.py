"""Edit data loaders: EasyEdit, ZsRE and CounterFact files become the same EditRequests, and a
malformed record fails in one line naming the file, the record and the field."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from hipbench.edit_formats import detect_format, load_edit_file
from hipbench.suite import EditRequest, Example, SuiteDataError

FIXTURES = Path(__file__).parent / "fixtures" / "edit"


def write(tmp_path: Path, records, name: str = "edits.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(records))
    return path


def test_zsre_file_maps_src_alt_rephrase_loc_and_answers():
    kind, requests = load_edit_file(FIXTURES / "zsre.json")
    assert kind == "zsre" and len(requests) == 3
    assert requests[0] == EditRequest(
        prompt="What university did Watts Humphrey attend?", subject="Watts Humphrey",
        target_new=" University of Michigan", ground_truth=" Illinois Institute of Technology",
        rephrase_prompts=("What university did Watts Humphrey take part in?",),
        locality=(Example("nq question: who played desmond doss father in hacksaw ridge", " Hugo Weaving"),))
    assert requests[1].portability == (Example("What order does the family of Ramalinaceae belong to?", " Lamiales"),)
    assert requests[2].portability == ()


def test_counterfact_fills_the_subject_into_the_template_and_uses_target_true_for_neighbours():
    kind, requests = load_edit_file(FIXTURES / "counterfact.json")
    assert kind == "counterfact"
    first = requests[0]
    assert first.prompt == "The mother tongue of Danielle Darrieux is"
    assert (first.target_new, first.ground_truth, first.subject) == (" English", " French", "Danielle Darrieux")
    assert len(first.rephrase_prompts) == 2 and first.rephrase_prompts[1].endswith("spoke the language")
    assert first.locality == (Example("The mother tongue of Léon Blum is", " French"),
                              Example("The native language of Montesquieu is", " French"))
    assert requests[1].prompt == "Scott Glacier is located in the continent of"
    assert requests[1].locality == (Example("Ross Ice Shelf is located in the continent of", " Antarctica"),)


def test_easyedit_flat_and_nested_locality_portability_and_no_answer_placeholder():
    kind, requests = load_edit_file(FIXTURES / "easyedit.json")
    assert kind == "easyedit"
    first, second = requests
    assert first.ground_truth == " United States of America"
    assert first.rephrase_prompts == ("Leonardo DiCaprio is a citizen of",)
    assert first.locality == (Example("The name of the father of Leonardo DiCaprio is", " George DiCaprio"),)
    # a list of alias lists counts by its first alias
    assert first.portability == (Example("The official language of the country of citizenship of Leonardo DiCaprio is",
                                         " Arabic"),)
    assert second.ground_truth is None  # "<|endoftext|>" is EasyEdit's "no ground truth"
    assert second.rephrase_prompts == ("The Eiffel Tower was designed by", "Which architect designed the Eiffel Tower?")
    assert second.locality == (Example("The Eiffel Tower is located in", " Paris"),
                               Example("The Eiffel Tower was completed in", " 1889"))


def test_jsonl_files_are_read_line_by_line(tmp_path):
    records = json.loads((FIXTURES / "zsre.json").read_text())
    path = tmp_path / "zsre.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    assert load_edit_file(path) == load_edit_file(FIXTURES / "zsre.json")


def test_format_is_detected_from_identifying_fields():
    assert detect_format({"requested_rewrite": {}}) == "counterfact"
    assert detect_format({"src": "q", "alt": "a"}) == "zsre"
    assert detect_format({"prompt": "p", "target_new": "t"}) == "easyedit"
    assert detect_format({"prompt": "p"}) is None
    assert detect_format(["not", "a", "record"]) is None


@pytest.mark.parametrize("records,message", [
    ([{"src": "q?", "alt": "a", "loc": "l", "loc_ans": 3}], "record 0: field 'loc_ans' must be a string, got a JSON int"),
    ([{"src": "q?", "alt": "a"}, {"src": "q2?"}], "record 1: field 'alt' is missing"),
    ([{"src": "q?", "alt": "  "}], "record 0: field 'alt' is empty"),
    ([{"src": "q?", "alt": "a", "answers": "x"}], "record 0: field 'answers' must be a non-empty list of strings"),
    ([{"prompt": "p", "target_new": "t"}, {"prompt": "p", "target_new": "t", "locality_prompt": "l"}],
     "record 1: field 'locality_ground_truth' is missing"),
    ([{"prompt": "p", "target_new": "t", "portability": {"R": [{"prompt": "q"}]}}],
     "record 0: field 'portability.R[0].ground_truth' is missing"),
    ([{"prompt": "p", "target_new": "t", "locality": {"R": ["text"]}}],
     "record 0: field 'locality.R[0]' must be an object with prompt and ground_truth, got a JSON str"),
    ([{"src": "q?", "alt": "a", "portability": {"New Question": "q2?"}}],
     "record 0: field 'portability.New Answer' is missing"),
    ([{"src": "q?", "alt": "a", "portability": [{"New Question": "q2?", "New Answer": "x"}, 7]}],
     "record 0: field 'portability[1]' must be an object with 'New Question' and 'New Answer', got a JSON int"),
    ([{"prompt": "p", "target_new": "t", "rephrase_prompt": ["ok", 5]}],
     "record 0: field 'rephrase_prompt' must be a non-empty string or a list of them"),
    ([{"requested_rewrite": {"prompt": "no slot", "subject": "s", "target_new": {"str": "a"},
                             "target_true": {"str": "b"}}}],
     "record 0: field 'requested_rewrite.prompt' must contain '{}'"),
    ([{"requested_rewrite": {"prompt": "{} is", "subject": "s", "target_new": {"id": "Q1"},
                             "target_true": {"str": "b"}}}],
     "record 0: field 'requested_rewrite.target_new.str' is missing"),
    ([{"prompt": "p", "target_new": "t"}, "text"], "record 1 is not a JSON object (got a JSON str)"),
    ([{"question": "q"}], "record 0: unknown edit format"),
    ([], "no edit requests (empty list)"),
    ({"data": []}, "expected a JSON list of edit requests, got a JSON dict"),
])
def test_malformed_files_fail_in_one_line_naming_file_record_and_field(tmp_path, records, message):
    path = write(tmp_path, records)
    with pytest.raises(SuiteDataError) as error:
        load_edit_file(path)
    text = str(error.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text


def test_invalid_json_names_line_and_column(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('[\n  {"src": "q",\n  "alt" "a"}\n]')
    with pytest.raises(SuiteDataError, match=r"bad.json: invalid JSON at line 3 column 9"):
        load_edit_file(path)
