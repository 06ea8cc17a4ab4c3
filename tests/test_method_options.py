"""Method options declare their accepted values beside their defaults (`hipbench.method.option`), for
adapter methods and knowledge editors alike, and `options_from_strings` refuses anything else in one
line naming the method, the option, the value and what is allowed."""
from __future__ import annotations

import dataclasses

import pytest

from hipbench import registry
from hipbench.method import (check_options, identity_options, option, option_rows, option_spec, options_as_recorded,
                             options_from_strings)


def registered() -> dict[str, type]:
    classes = {**registry.available(registry.METHODS), **registry.available(registry.EDITORS)}
    return {name: cls for name, cls in classes.items() if not isinstance(cls, Exception)}


BUILT_IN = ("lora", "pissa", "hiplora", "olora", "lalora", "sclora", "ft-l", "ft-m", "rome", "memit", "alphaedit",
            "grace")


def test_every_option_of_every_built_in_method_declares_its_values_and_its_default_is_one_of_them():
    classes = registered()
    assert set(BUILT_IN) <= set(classes)
    for name in BUILT_IN:
        options_cls = classes[name].Options
        for f in dataclasses.fields(options_cls):
            spec = option_spec(options_cls, f.name)
            assert spec is not None and spec.help, f"{name}: option {f.name} declares no values or meaning"
        check_options(options_cls(), name)  # raises if a default is outside its own range


@pytest.mark.parametrize("method, key, raw, line", [
    ("hiplora", "k", "0", "hiplora: --option k=0: expected an integer >= 1"),
    ("hiplora", "k", "2.5", "hiplora: --option k=2.5: expected an integer >= 1"),
    ("hiplora", "budget", "-1", "hiplora: --option budget=-1: expected a number > 0"),
    ("lalora", "curvature", "full", "lalora: --option curvature=full: expected one of diag, kfac"),
    ("lora", "dropout", "1", "lora: --option dropout=1: expected a number in [0, 1)"),
    ("lora", "alpha", "nan", "lora: --option alpha=nan: expected a number > 0"),
    ("lora", "rslora", "maybe", "lora: --option rslora=maybe: expected true or false"),
    ("sclora", "beta", "1.01", "sclora: --option beta=1.01: expected a number in [0, 1]"),
    ("memit", "stats_tokens", "0", "memit: --option stats_tokens=0: expected an integer >= 1"),
    ("rome", "module", "model.layers.5.mlp", "rome: --option module=model.layers.5.mlp: expected a module name with {}"),
    ("ft-l", "layers", "-3", "ft-l: --option layers=-3: expected comma-separated layer indices >= 0"),
])
def test_a_bad_value_fails_naming_method_option_value_and_what_is_allowed(method, key, raw, line):
    cls = registry.method_class(method)
    with pytest.raises(ValueError) as error:
        options_from_strings(cls.Options, {key: raw}, method)
    assert str(error.value).startswith(line) and "\n" not in str(error.value)


def test_values_at_the_edge_of_a_range_are_accepted():
    lora = registry.method_class("lora")
    options = options_from_strings(lora.Options, {"dropout": "0", "alpha": "1e-3", "rslora": "YES"}, "lora")
    assert (options.dropout, options.alpha, options.rslora) == (0.0, 1e-3, True)
    sclora = registry.method_class("sclora")
    assert options_from_strings(sclora.Options, {"beta": "1"}, "sclora").beta == 1.0


def test_a_subclass_that_only_changes_a_default_keeps_its_base_range():
    ftm = registry.method_class("ft-m").Options
    assert ftm().norm_constraint == 0.0 and option_spec(ftm, "norm_constraint").ge == 0
    with pytest.raises(ValueError, match=r"^ft-m: --option norm_constraint=-1: expected a number >= 0$"):
        options_from_strings(ftm, {"norm_constraint": "-1"}, "ft-m")


def test_options_built_directly_are_checked_when_the_method_is_made():
    hiplora = registry.method_class("hiplora")
    with pytest.raises(ValueError, match=r"^hiplora: --option k=0: expected an integer >= 1$"):
        hiplora(hiplora.Options(k=0))
    grace = registry.method_class("grace")
    with pytest.raises(ValueError, match=r"^grace: --option eps=-1.0: expected a number > 0$"):
        grace(grace.Options(eps=-1.0))


def test_option_rows_state_default_range_and_meaning():
    rows = {row[0]: row for row in option_rows(registry.method_class("lalora").Options)}
    assert rows["curvature"] == ("curvature", "'diag'", "one of diag, kfac", "diagonal Fisher or block K-FAC per LoRA factor")
    assert rows["examples"][1:3] == ("64", "an integer >= 1")
    assert rows["refresh"][1:3] == ("false", "true or false")


def test_readme_option_table_is_the_generated_one():
    """README's option reference is `hipbench list methods --options --markdown` for the built-in
    methods; a changed range or default without a regenerated README fails here."""
    from pathlib import Path

    from hipbench.option_table import README_BEGIN, README_END, options_markdown

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start, end = readme.index(README_BEGIN), readme.index(README_END) + len(README_END)
    assert readme[start:end].splitlines() == options_markdown(list(BUILT_IN))


def test_list_methods_options_prints_every_option_with_its_range():
    from click.testing import CliRunner

    from hipbench.cli import main

    result = CliRunner().invoke(main, ["list", "methods", "--options"])
    assert result.exit_code == 0, result.output
    assert "hiplora (adapter):" in result.output and "grace (editor):" in result.output
    line = next(line for line in result.output.splitlines() if line.strip().startswith("k "))
    assert "default 32; an integer >= 1." in line


def test_infinity_is_accepted_only_where_declared():
    hiplora = registry.method_class("hiplora").Options
    assert options_from_strings(hiplora, {"budget": "inf"}, "hiplora").budget == float("inf")
    assert option_rows(hiplora)[[r[0] for r in option_rows(hiplora)].index("budget")][2] == "a number > 0, or inf"
    for raw in ("-inf", "nan"):
        with pytest.raises(ValueError, match=rf"^hiplora: --option budget={raw}: expected a number > 0, or inf$"):
            options_from_strings(hiplora, {"budget": raw}, "hiplora")
    with pytest.raises(ValueError, match=r"^lora: --option alpha=inf: expected a number > 0$"):
        options_from_strings(registry.method_class("lora").Options, {"alpha": "inf"}, "lora")


@dataclasses.dataclass
class Later:
    size: int = option(4, "an option records always had", ge=1)
    placed: str = option("new", "added later, its default since changed", choices=("old", "new"),
                         added_later=True, earlier="old")
    extra: bool = option(False, "added later, default unchanged", added_later=True)


def test_an_option_whose_default_changed_keeps_old_records_at_their_value():
    """`before` is what records made without the option ran: at that value the option stays out of
    the identity (old records keep their hash), at the new default it is in it (a new run is not
    taken for an old record), and a record without the key is read back with that value."""
    assert identity_options(Later(placed="old")) == {"size": 4}
    assert identity_options(Later()) == {"size": 4, "placed": "new"}
    assert identity_options(Later(extra=True)) == {"size": 4, "placed": "new", "extra": True}
    assert options_as_recorded(Later, {"size": 4}) == Later(placed="old")
    assert options_as_recorded(Later, {"size": 4, "placed": "new"}) == Later()
    with pytest.raises(ValueError, match="before"):
        option(1, "not added later", earlier=0)
