"""The pure pieces around captum's methods: tokens merged back into the words sent, heat maps
moved onto the explained grid with their total kept, and the explained output."""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image

from aiaas.errors import Invalid
from aiaas.runtime.gradients import baseline_image, grid_size, onto_grid, score, words_of


def test_tokens_are_merged_into_the_words_as_sent() -> None:
    text = "Unbelievably-wonderful film, truly!"
    # [CLS] un ##believ ##ably - wonderful film , truly ! [SEP]
    spans = [(0, 0), (0, 2), (2, 8), (8, 12), (12, 13), (13, 22), (23, 27), (27, 28), (29, 34),
             (34, 35), (0, 0)]
    values = [0.0, 1.0, 2.0, 3.0, 0.5, 4.0, 5.0, 0.25, 6.0, 0.125, 0.0]
    words = words_of(text, spans, values)
    # Punctuation counts towards the word before it, as SHAP keeps separators on that word.
    assert words == [("Unbelievably", 0, 12, 6.5), ("wonderful", 13, 22, 4.0),
                     ("film", 23, 27, 5.25), ("truly", 29, 34, 6.125)]
    assert sum(w[3] for w in words) == sum(values)
    leading = words_of("...ok", [(0, 3), (3, 5)], [1.0, 2.0])
    assert leading == [("ok", 3, 5, 3.0)]  # nothing before the first word: it takes them
    assert words_of("?!", [(0, 1), (1, 2)], [1.0, 2.0]) == [("?!", 0, 2, 3.0)]


def test_a_heat_map_keeps_its_total_on_the_grid() -> None:
    generator = torch.Generator().manual_seed(0)
    heat = torch.randn(32, 24, generator=generator, dtype=torch.float64)
    grid = onto_grid(heat, 8, 6)
    assert tuple(grid.shape) == (8, 6)
    assert float(grid.sum()) == pytest.approx(float(heat.sum()), abs=1e-9)
    assert onto_grid(heat, 32, 24) is heat
    bright = torch.zeros(32, 24, dtype=torch.float64)
    bright[:8, :6] = 1.0  # the top-left corner lands in the grid's top-left cells
    corner = onto_grid(bright, 8, 6)
    assert float(corner[:2, :2].sum()) > 0.9 * float(corner.sum())


def test_grid_size_is_the_shrunk_image() -> None:
    assert grid_size(Image.new("RGB", (100, 80)), 64) == (51, 64)
    assert grid_size(Image.new("RGB", (8, 8)), 64) == (8, 8)


def test_score_is_the_probability_or_its_log_odds() -> None:
    logits = torch.tensor([[2.0, 0.5, -1.0]])
    probability = torch.softmax(logits, dim=-1)[0, 1].item()
    assert score(logits, 1, output="probability", multi_label=False).item() == pytest.approx(
        probability)
    assert score(logits, 1, output="log_odds", multi_label=False).item() == pytest.approx(
        math.log(probability / (1 - probability)), abs=1e-6)
    assert score(logits, 0, output="log_odds", multi_label=True).item() == pytest.approx(2.0)


def test_baseline_images() -> None:
    image = Image.new("RGB", (10, 6), (200, 100, 0))
    assert baseline_image(image, "black").getpixel((3, 3)) == (0, 0, 0)
    assert baseline_image(image, "mean").getpixel((3, 3)) == (200, 100, 0)
    assert baseline_image(image, "blur").size == (10, 6)
    with pytest.raises(Invalid, match="not an image baseline"):
        baseline_image(image, "pad")
