"""`--model` is resolved before anything loads (`hipbench.models.resolve_model`): an alias, a .gguf
file, a local directory with a config.json, or a hub id; anything else is one `ModelError` line that
says what was tried and why each failed, and `hipbench run` writes nothing."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from hipbench import models
from hipbench.cli import main
from hipbench.models import ModelError, ModelSpec, load_model, resolve_model, tiny_llama


def one_line_error(spec: str) -> str:
    with pytest.raises(ModelError) as error:
        resolve_model(spec)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"--model {spec}: not an alias (smollm2-135m, tiny-llama)")
    return message


def test_aliases_resolve_without_loading():
    assert resolve_model("tiny-llama") == ModelSpec("alias", "tiny-llama")
    assert resolve_model("smollm2-135m") == ModelSpec("alias", "smollm2-135m")  # no fetch


def test_a_missing_path_is_neither_a_file_nor_a_hub_id(tmp_path):
    missing = str(tmp_path / "nothing" / "here")
    assert one_line_error(missing).endswith(f"no file or directory {missing}; not a hub id (owner/name)")
    assert one_line_error("no-such-model").endswith("not a hub id (owner/name)")
    assert one_line_error("weights.gguf").endswith("no file or directory weights.gguf; not a hub id (owner/name)")


def test_files_and_directories_that_are_not_models_say_why(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert one_line_error(str(text)).endswith(f"{text} is a file, but not a .gguf file")
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"\x00\x01garbage")
    assert one_line_error(str(fake)).endswith(f"{fake} is not a GGUF file (it does not start with GGUF)")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert one_line_error(str(empty)).endswith(f"directory {empty} has no config.json")
    (empty / "config.json").write_text("{not json")
    assert one_line_error(str(empty)).endswith("config.json is not valid JSON (JSONDecodeError)")
    (empty / "config.json").write_text('{"hidden_size": 4}')
    assert one_line_error(str(empty)).endswith("config.json has no model_type")


def test_a_hub_id_offline_and_not_cached_fails_without_the_network(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", lambda *a, **k: pytest.fail("went online"))
    assert one_line_error("someone/some-model").endswith(
        "no file or directory someone/some-model; hub id someone/some-model is not in the local Hugging Face "
        "cache and HF_HUB_OFFLINE is set")


def test_an_unreachable_hub_is_said_in_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    import huggingface_hub

    def unreachable(*args, **kwargs):
        raise ConnectionError("Name or service not known\nand more lines")

    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", unreachable)
    assert one_line_error("someone/some-model").endswith(
        "hub id someone/some-model: the hub could not be reached (ConnectionError)")


def test_a_local_directory_with_a_config_resolves_and_loads(tmp_path):
    model, tokenizer = tiny_llama()
    model.save_pretrained(tmp_path / "tiny")
    tokenizer.save_pretrained(tmp_path / "tiny")
    assert resolve_model(str(tmp_path / "tiny")) == ModelSpec("directory", str(tmp_path / "tiny"))
    loaded = load_model(str(tmp_path / "tiny"))
    assert loaded.source == str(tmp_path / "tiny") and loaded.model.config.num_hidden_layers == 2


def test_a_gguf_file_that_resolves_but_cannot_load_is_one_line(tmp_path):
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(b"GGUF\x03\x00\x00\x00")
    assert resolve_model(str(truncated)).kind == "gguf"
    with pytest.raises(ModelError) as error:
        load_model(str(truncated))
    assert str(error.value).startswith(f"--model {truncated}: gguf {truncated} could not be loaded (")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("make", ["missing", "directory"])
def test_run_with_a_bad_model_fails_before_loading_and_writes_nothing(tmp_path, make):
    spec = tmp_path / "model"
    if make == "directory":
        spec.mkdir()
    out = tmp_path / "runs"
    result = CliRunner().invoke(main, ["run", "--method", "lora", "--suite", "continual", "--model", str(spec),
                                       "--seeds", "1", "--device", "cpu", "--out", str(out)])
    assert result.exit_code == 1 and result.stderr.startswith(f"Error: --model {spec}: not an alias"), result.output
    assert len(result.stderr.strip().splitlines()) == 1 and "loading model" not in result.output
    assert not out.exists()


def test_offline_words_are_read_when_asked(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    assert not models.hub_offline()
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "yes")
    assert models.hub_offline()
