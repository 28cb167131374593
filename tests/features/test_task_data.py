"""TaskData assembly: one cached encoder call per corpus, targets as the design specifies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from emomtl.data.errors import MissingDataError
from emomtl.data.tasks import EMOBANK, SEMEVAL, TALES
from emomtl.features.task_data import load_task_data, targets_tensor


def test_targets_tensor_dtypes_and_shape_checks() -> None:
    s = targets_tensor(SEMEVAL, np.eye(11, dtype=np.int64)[:3])
    assert s.dtype == torch.float32 and s.shape == (3, 11)
    t = targets_tensor(TALES, np.array([0, 4, 2]))
    assert t.dtype == torch.int64 and t.tolist() == [0, 4, 2]
    e = targets_tensor(EMOBANK, np.array([[3.0, 2.5, 4.1]], dtype=np.float32))
    assert e.dtype == torch.float32 and e.tolist() == [[3.0, 2.5, pytest.approx(4.1)]]
    with pytest.raises(ValueError, match=r"task S: expected \(n, 11\)"):
        targets_tensor(SEMEVAL, np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"task T: expected \(n,\) class indices"):
        targets_tensor(TALES, np.zeros((3, 5)))


@pytest.mark.real
def test_load_task_data_encodes_each_corpus_once(
    data_dir: Path, tmp_path: Path, fake_encode
) -> None:
    first = load_task_data(["tales"], data_dir=data_dir, cache_dir=tmp_path)
    assert list(first) == ["T"] and fake_encode.calls == 1
    tales = first["T"]
    sizes = {split: x.shape[0] for split, x in tales.features.items()}
    assert sizes == {"train": 965, "dev": 120, "test": 122}
    assert tales.dim == 384
    assert all(y.dtype == torch.int64 and y.ndim == 1 for y in tales.targets.values())
    assert [len(v) for v in tales.ids.values()] == [965, 120, 122]

    again = load_task_data("T", data_dir=data_dir, cache_dir=tmp_path)
    assert fake_encode.calls == 1  # every split came from the one cache entry
    for split in ("train", "dev", "test"):
        assert torch.equal(again["T"].features[split], tales.features[split])
        assert again["T"].ids[split] == tales.ids[split]
    # the splits are different rows, not one block repeated
    assert not torch.equal(tales.features["dev"][:10], tales.features["train"][:10])


def test_every_missing_corpus_is_listed_in_one_error(tmp_path: Path) -> None:
    """All missing files of all requested corpora come in one error, before anything loads."""
    with pytest.raises(MissingDataError) as caught:
        load_task_data(["S", "T", "E"], data_dir=tmp_path, cache_dir=tmp_path / "cache")
    message = str(caught.value)
    for part in ("2018-E-c-En-train.txt", "agree-sent", "emobank.csv", "emomtl data fetch"):
        assert part in message
