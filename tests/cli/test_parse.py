"""The one parser of what users type: sizes, lists and ranges."""

from __future__ import annotations

import pytest

from cnnstat.cli.parse import (
    input_size_argument,
    parse_input_size,
    parse_input_sizes,
    parse_int_list,
    parse_ints,
    parse_list,
    parse_range,
)
from cnnstat.errors import InvalidInputError


@pytest.mark.parametrize(
    ("text", "dims"),
    [
        ("3x224x224", (3, 224, 224)),
        ("3×224×224", (3, 224, 224)),
        ("3,224,224", (3, 224, 224)),
        ("3X32X32", (3, 32, 32)),
        ("64", (64,)),
        ("3x16x112x112", (3, 16, 112, 112)),
    ],
)
def test_one_size(text, dims):
    assert parse_input_size(text) == dims


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("3x", "integer"),
        ("axb", "integer"),
        ("0x1x1", "positive"),
        ("3x-2x2", "positive"),
        ("1x2x3x4x5", "C×H×W"),
    ],
)
def test_bad_sizes_say_why_and_name_the_option(text, why):
    with pytest.raises(InvalidInputError, match=f"--input-size '{text}'.*{why}"):
        parse_input_size(text)


def test_several_inputs_and_keyword_inputs():
    assert parse_input_sizes("3x8x8,3x8x8") == ([(3, 8, 8), (3, 8, 8)], {})
    assert parse_input_sizes("3x8x8,mask=1x8x8") == ([(3, 8, 8)], {"mask": (1, 8, 8)})
    assert parse_input_sizes("3,8,8") == ([(3, 8, 8)], {})  # commas alone: one size
    with pytest.raises(InvalidInputError, match="positional sizes come before"):
        parse_input_sizes("mask=1x8,3x8x8")
    with pytest.raises(InvalidInputError, match="'3x8x8,': an empty size between commas"):
        parse_input_sizes("3x8x8,")
    with pytest.raises(InvalidInputError, match="'2x' is not a name"):
        parse_input_sizes("3x8x8,2x=1x8")


def test_an_empty_size_is_not_the_default(capsys):
    from cnnstat.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["memory", "lenet5", "--input-size", ""])
    assert exc.value.code == 2
    assert "malformed --input-size ''" in capsys.readouterr().err


def test_what_analyze_is_given():
    assert input_size_argument(([(3, 8, 8)], {})) == (3, 8, 8)
    assert input_size_argument(([(3, 8, 8), (1, 8, 8)], {})) == [(3, 8, 8), (1, 8, 8)]
    assert input_size_argument(([], {"x": (3, 8, 8)})) == []
    assert input_size_argument(([], {})) is None


def test_lists_ints_and_ranges():
    assert parse_ints("5x3", "--kernel") == (5, 3)
    assert parse_list(" vgg16, ,resnet50 ", "MODELS") == ("vgg16", "resnet50")
    assert parse_int_list("1,8,16", "--batch-sizes") == (1, 8, 16)
    assert parse_range("0,1000") == (0.0, 1000.0)
    with pytest.raises(InvalidInputError, match="MODELS needs at least one value"):
        parse_list(" , ", "MODELS")
    with pytest.raises(InvalidInputError, match="malformed --batch-sizes '1,x'"):
        parse_int_list("1,x", "--batch-sizes")
    with pytest.raises(InvalidInputError, match="LOW must be below HIGH"):
        parse_range("5,5")
