"""How a library error reads on the command line."""

from __future__ import annotations

from cnnstat.cli.core import as_flags
from cnnstat.errors import ForwardError, InvalidInputError


def test_each_named_argument_is_shown_as_its_flag():
    exc = InvalidInputError(
        "use either freeze or freeze_ratio, not both", fields=("freeze", "freeze_ratio")
    )
    assert as_flags(exc) == "use either --freeze or --freeze-ratio, not both"
    assert str(exc) == "use either freeze or freeze_ratio, not both"  # the API's wording


def test_the_model_s_own_words_are_left_alone():
    # the model's error comes first and may use the same word; the library's hint is last
    exc = ForwardError(
        "Net forward failed: ValueError: bad batch_size 1 (raise batch_size)",
        fields=("batch_size",),
    )
    assert as_flags(exc) == "Net forward failed: ValueError: bad batch_size 1 (raise --batch-size)"


def test_unlisted_names_and_longer_words_stay():
    assert as_flags(InvalidInputError("freeze_ratio must be in (0, 1]", fields=("freeze",))) == (
        "freeze_ratio must be in (0, 1]"
    )
    assert as_flags(InvalidInputError("spec must be a ConvSpec", fields=("spec",))) == (
        "spec must be a ConvSpec"
    )
