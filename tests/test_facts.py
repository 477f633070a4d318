"""The facts table against its sources: the lectures' own text, and the zoo it describes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cnnstat import facts, zoo

# The course's lecture notes sit beside the worktrees; the tests that read them skip without.
LECTURES = Path(__file__).resolve().parents[2] / "shared" / "lectures"


def lecture_text(number: int) -> str:
    paths = sorted(LECTURES.glob(f"{number:03d}_*.txt"))
    if not paths:
        pytest.skip(f"lecture {number} not found under {LECTURES}")
    return paths[0].read_text()


def _figure(written: str) -> float:
    """'62M' -> 62e6, '1.5B' -> 1.5e9, '84.70%' -> 84.70."""
    scale = {"M": 1e6, "B": 1e9, "%": 1}.get(written[-1], 1)
    return float(written.rstrip("MB%")) * scale


def test_lecture_claims_are_the_lectures_comparison_table():
    # lecture 3, "Comparison": network, year, feature, top-5, params, FLOPs; tab-separated
    rows = [
        line.split("\t")
        for line in lecture_text(3).splitlines()
        if re.match(r"^(AlexNet|VGGNet|Inception|ResNet-152)\t\d{4}\t", line)
    ]
    assert len(rows) == len(facts.LECTURE_CLAIMS) == 4
    for (network, year, feature, top5, params, flops), claim in zip(
        rows, facts.LECTURE_CLAIMS, strict=True
    ):
        assert (claim.network, claim.year, claim.feature) == (network, int(year), feature)
        assert (claim.top5, claim.params, claim.flops) == (
            _figure(top5), _figure(params), _figure(flops)
        )  # fmt: skip


def test_vgg16_table_is_the_lectures():
    # lecture 4 writes the table on one line: "CONV3-64: [224x224x64] memory: 224*224*64=3.2M
    # params: (3*3*3)*64 = 1,728 ..."; FC memory has no product, pools have "params: 0"
    text = lecture_text(4).replace("\\*", "*")
    pattern = (
        r"(INPUT|CONV3-\d+|POOL2|FC): \[(\d+x\d+x\d+)\] memory: (?:[\d*]+=)?([\d.]+[KM]?) "
        r"params: (?:0|[^=]+= ([\d,]+))"
    )
    rows = re.findall(pattern, text)
    assert len(rows) == len(facts.VGG16_LECTURE) == 22
    for (layer, shape, memory, params), row in zip(rows, facts.VGG16_LECTURE, strict=True):
        assert row[:4] == (layer, shape, memory, int(params.replace(",", "") or 0))
    assert "TOTAL memory: 24M * 4 bytes ~= 96MB / image" in text
    assert facts.VGG16_LECTURE_TOTAL_ELEMENTS == 24e6
    assert "TOTAL params: 138M parameters" in text
    assert facts.VGG16_LECTURE_TOTAL_PARAMS == 138e6


def test_every_classic_has_its_facts_and_no_more():
    assert set(facts.CLASSIC_FACTS) == set(zoo.CLASSICS)
    assert all(f.paper for f in facts.CLASSIC_FACTS.values())


def test_lecture_claims_name_zoo_models():
    names = set(zoo.zoo_names())
    for claim in facts.LECTURE_CLAIMS:
        assert claim.model in claim.variants and set(claim.variants) <= names


@pytest.mark.parametrize(
    ("name", "year", "words"),
    [
        ("lenet5", 1998, "two convs"),  # a classic: its own facts, not a family's
        ("resnet50", 2015, "residual"),
        ("resnext50_32x4d", 2016, "grouped"),  # "resnext" is longer than "resnet"
        ("efficientnet_v2_s", 2021, "fused MBConv"),  # not efficientnet's 2019
        ("vit_b_16", 2020, "16x16"),
    ],
)
def test_family_of_takes_the_longest_prefix(name, year, words):
    found_year, feature = facts.family_of(name)
    assert found_year == year and words in feature


def test_family_of_an_unknown_model():
    assert facts.family_of("my_net") == (None, "")
    assert facts.facts_of("my_net") is None
