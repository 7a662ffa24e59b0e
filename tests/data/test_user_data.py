"""The user's own data: image folders, image tables and text tables, and their clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aisec.data.base import ImageDataset
from aisec.data.tweets import TweetDataset
from aisec.data.user import (
    DatasetName,
    ImageFolderSource,
    TableSource,
    load_image_folder,
    load_image_source,
    load_image_table,
    load_text_source,
    load_text_table,
    parse_data_source,
)


def _solid(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (8, 6)) -> Path:
    """A one-colour RGB image of ``size`` = (width, height)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    _solid(root / "dog" / "a.png", (255, 0, 0))
    _solid(root / "dog" / "b.jpg", (0, 255, 0), size=(12, 9))
    _solid(root / "cat" / "c.png", (0, 0, 255))
    (root / "cat" / "notes.txt").write_text("not an image, skipped")
    (root / ".hidden").mkdir()
    return root


# --- the grammar --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("imagefolder:photos", ImageFolderSource(Path("photos"))),
        ("csv:labels.csv", TableSource(Path("labels.csv"), "csv")),
        ("jsonl:data/t.jsonl", TableSource(Path("data/t.jsonl"), "jsonl")),
        ("texts.csv", TableSource(Path("texts.csv"), "csv")),
        ("texts.JSONL", TableSource(Path("texts.JSONL"), "jsonl")),
        ("signs", DatasetName("signs")),
        ("tweets", DatasetName("tweets")),
    ],
)
def test_parse_data_source(text: str, expected: object) -> None:
    assert parse_data_source(text) == expected


@pytest.mark.parametrize(("text", "message"), [("", "empty"), ("imagefolder:", "nothing after")])
def test_parse_refuses_empty_sources(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_data_source(text)


def test_dataset_names_are_left_to_the_caller() -> None:
    with pytest.raises(ValueError, match=r"aisec\.data\.load"):
        load_image_source("signs")
    with pytest.raises(ValueError, match="text commands"):
        load_text_source("tweets")


# --- image folders ------------------------------------------------------------------------


def test_image_folder_sorted_classes_resized_to_size(folder: Path) -> None:
    data = load_image_source(f"imagefolder:{folder}", size=(5, 7))
    assert isinstance(data, ImageDataset)
    assert data.class_names == ("cat", "dog")
    assert data.labels.tolist() == [0, 1, 1]
    assert data.images.shape == (3, 3, 5, 7) and data.images.dtype == torch.float32
    # Solid colours survive resizing exactly: blue cat, red and green dogs.
    expected = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    torch.testing.assert_close(data.images.mean(dim=(2, 3)), expected, atol=0.02, rtol=0)
    assert float(data.images.min()) >= 0.0 and float(data.images.max()) <= 1.0


def test_image_folder_follows_the_given_class_order(folder: Path) -> None:
    data = load_image_folder(folder, size=4, class_names=["bird", "dog", "cat"])
    assert data.class_names == ("bird", "dog", "cat")
    assert data.labels.tolist() == [2, 1, 1]
    with pytest.raises(ValueError, match=r"unknown label 'dog'.*classes are \['cat', 'cow'\]"):
        load_image_folder(folder, size=4, class_names=["cat", "cow"])


def test_image_folder_grayscale(folder: Path) -> None:
    data = load_image_folder(folder, size=4, channels=1)
    assert data.images.shape == (3, 1, 4, 4)


def test_images_of_several_sizes_need_a_size(folder: Path) -> None:
    with pytest.raises(ValueError, match=r"different sizes.*give size="):
        load_image_folder(folder)
    (folder / "dog" / "b.jpg").unlink()
    same = load_image_folder(folder)
    assert same.images.shape == (2, 3, 6, 8)


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is not a folder"):
        load_image_folder(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="has no class sub-folders"):
        load_image_folder(empty)
    (empty / "cat").mkdir()
    (empty / "cat" / "readme.md").write_text("no images here")
    with pytest.raises(ValueError, match=r"the class folder .*cat' has no images"):
        load_image_folder(empty)
    broken = empty / "cat" / "broken.png"
    broken.write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match=f"cannot read the image '{broken}'"):
        load_image_folder(empty, size=4)


# --- image tables -------------------------------------------------------------------------


def test_image_csv_with_names_or_indices(tmp_path: Path) -> None:
    _solid(tmp_path / "img" / "1.png", (255, 255, 255))
    _solid(tmp_path / "img" / "2.png", (0, 0, 0))
    table = tmp_path / "labels.csv"
    table.write_text("path,kind\nimg/1.png,stop\nimg/2.png,yield\nimg/1.png,stop\n")
    data = load_image_source(f"csv:{table}", image_column="path", label_column="kind")
    assert data.class_names == ("stop", "yield") and data.labels.tolist() == [0, 1, 0]
    assert data.images.shape == (3, 3, 6, 8)
    assert float(data.images[0].min()) == 1.0 and float(data.images[1].max()) == 0.0

    table.write_text("path,kind\nimg/1.png,2\nimg/2.png,0\n")
    by_index = load_image_table(table, image_column="path", label_column="kind", size=3)
    assert by_index.class_names == ("0", "1", "2") and by_index.labels.tolist() == [2, 0]
    named = load_image_table(
        table, image_column="path", label_column="kind", class_names=["a", "b", "c"]
    )
    assert named.class_names == ("a", "b", "c") and named.labels.tolist() == [2, 0]
    with pytest.raises(ValueError, match=r"unknown label '2'.*the 2 classes"):
        load_image_table(table, image_column="path", label_column="kind", class_names=["a", "b"])


def test_image_table_errors(tmp_path: Path) -> None:
    _solid(tmp_path / "1.png", (1, 2, 3))
    table = tmp_path / "labels.csv"
    table.write_text("file,label\n1.png,cat\n")
    with pytest.raises(
        ValueError, match=r"no column 'filename'; its columns are \['file', 'label'\]"
    ):
        load_image_table(table)
    table.write_text("filename,label\n1.png,cat\nmissing.png,dog\n")
    with pytest.raises(ValueError, match=r"missing\.png' does not exist"):
        load_image_table(table)
    table.write_text("filename,label\n")
    with pytest.raises(ValueError, match="has no rows"):
        load_image_table(table)


# --- text tables --------------------------------------------------------------------------


def test_text_csv_with_named_columns(tmp_path: Path) -> None:
    table = tmp_path / "reviews.csv"
    table.write_text(
        'id,review,stars\n1,"Great,\nreally",good\n2,awful,bad\n3,,good\n', encoding="utf-8"
    )
    data = load_text_source(f"csv:{table}", text_column="review", label_column="stars")
    assert isinstance(data, TweetDataset)
    assert data.texts == ("Great,\nreally", "awful", "")
    assert data.class_names == ("bad", "good")
    assert data.labels.dtype == np.int64 and data.labels.tolist() == [1, 0, 1]


def test_text_jsonl_with_index_labels_and_model_classes(tmp_path: Path) -> None:
    table = tmp_path / "texts.jsonl"
    rows = [{"t": "fine", "y": 1}, {"t": "bad", "y": 0}, {"t": "ok", "y": "1"}]
    table.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    data = load_text_table(
        table, text_column="t", label_column="y", class_names=["negative", "positive"]
    )
    assert data.texts == ("fine", "bad", "ok") and data.labels.tolist() == [1, 0, 1]
    assert data.class_names == ("negative", "positive")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "a", "label": "pos"}\n{"text": "b"}\n', r"line 2: no field 'label'.*\['text'\]"),
        ('{"text": "a", "label": "pos"}\n{"text": "b", "label": 1}\n', "mixes class names and"),
        ('{"text": "a", "label": 1.5}\n', "class name or an integer index"),
        ('{"text": "a", "label": true}\n', "class name or an integer index"),
        ('{"text": 3, "label": "pos"}\n', "'text' must be a string"),
        ('{"text": "a", "label": "pos"}\n{oops\n', "line 2: not valid JSON"),
        ('["text", "label"]\n', "must be a JSON object"),
        ('{"text": "a", "label": -1}\n', "unknown label '-1'"),
        ('{"text": "a", "label": " "}\n', "the label is empty"),
        ("\n", "has no rows"),
    ],
)
def test_text_jsonl_errors(tmp_path: Path, content: str, message: str) -> None:
    table = tmp_path / "bad.jsonl"
    table.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_text_table(table)


def test_text_csv_errors(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("body,label\nhello,pos\n")
    with pytest.raises(ValueError, match=r"no column 'text'; its columns are \['body', 'label'\]"):
        load_text_table(table)
    table.write_text("text,label\nhello,pos\nbye,0\n")
    with pytest.raises(ValueError, match="mixes class names and integer indices"):
        load_text_table(table)
    table.write_text("text,label\nhello,pos\nbye,neg\n")
    with pytest.raises(ValueError, match="unknown label 'neg'"):
        load_text_table(table, class_names=["pos", "neutral"])
    table.write_text("")
    with pytest.raises(ValueError, match="is empty"):
        load_text_table(table)
    with pytest.raises(ValueError, match="holds images"):
        load_text_source(f"imagefolder:{tmp_path}")
