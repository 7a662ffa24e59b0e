"""Prompts of different lengths are left-padded and masked for batched generation."""

from __future__ import annotations

import pytest
import torch

from aisec.models.language import _left_pad


def test_left_pad_aligns_prompts_on_the_right_and_masks_the_padding() -> None:
    short, long = torch.tensor([7, 8]), torch.tensor([1, 2, 3, 4])
    ids, mask, prompts = _left_pad([short, long], pad=0)
    assert ids.tolist() == [[0, 0, 7, 8], [1, 2, 3, 4]]
    assert mask.tolist() == [[0, 0, 1, 1], [1, 1, 1, 1]]
    assert prompts[0] is short and prompts[1] is long


def test_a_tensor_batch_is_used_as_is() -> None:
    batch = torch.tensor([[1, 2], [3, 4]])
    ids, mask, prompts = _left_pad(batch, pad=0)
    assert ids is batch and bool(mask.all()) and len(prompts) == 2
    ids, _, _ = _left_pad(torch.tensor([5, 6, 7]), pad=0)
    assert ids.shape == (1, 3)


@pytest.mark.parametrize(
    "bad", [[], [torch.tensor([], dtype=torch.long)], [torch.tensor([[1, 2]])], torch.zeros(2, 0)]
)
def test_bad_prompts_are_clear_errors(bad: object) -> None:
    with pytest.raises(ValueError, match="prompt_ids"):
        _left_pad(bad, pad=0)  # type: ignore[arg-type]
