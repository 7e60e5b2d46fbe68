from __future__ import annotations

import torch

from verimap.simmap import similarity_maps, windows


def test_maps_have_shape_masks_and_values(encoder):
    a, b, c = encoder.encode(["the man bit the dog", "the dog bit the man", "a cat"])
    maps, mask = similarity_maps([a.vectors, a.vectors], [b.vectors, c.vectors], size=(8, 6))
    assert maps.shape == mask.shape == (2, 8, 6)
    assert mask[0].sum() == 5 * 5 and mask[1].sum() == 5 * 2
    assert torch.allclose(maps[0, :5, :5], a.vectors @ b.vectors.T, atol=1e-6)
    assert (maps[~mask] == 0).all()


def test_cropping_keeps_the_leading_tokens(encoder):
    a = encoder.encode(["one two three four five six seven"])[0]
    maps, mask = similarity_maps([a.vectors], [a.vectors], size=(4, 3))
    assert mask.all()
    assert torch.allclose(maps[0], a.vectors[:4] @ a.vectors[:3].T, atol=1e-6)


def test_empty_batch():
    maps, mask = similarity_maps([], [], size=(4, 4))
    assert maps.shape == (0, 4, 4)


def test_windows_cover_everything():
    assert windows(10, 64, 32) == [(0, 10)]
    w = windows(100, 64, 32)
    assert w[0] == (0, 64) and w[-1] == (36, 100)
    covered = set()
    for s, e in w:
        covered.update(range(s, e))
    assert covered == set(range(100))
