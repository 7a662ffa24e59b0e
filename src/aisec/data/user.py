"""Your own data: image folders, images listed in a CSV/JSONL file, and text in CSV/JSONL.

Data sources are named like model sources:

=============================  =================================================================
``imagefolder:DIR``            one sub-folder per class (``DIR/cat/1.png``), classes sorted
``csv:FILE`` or ``FILE.csv``   a table: images (a file-name column, relative to the table's
                               folder) or texts (a text column), with a label column
``jsonl:FILE`` or ``.jsonl``   the same, one JSON object per line
anything else                  one of aisec's own datasets (:class:`DatasetName`), for the caller
=============================  =================================================================

Images become an :class:`~aisec.data.base.ImageDataset`: float32 ``(N, C, H, W)`` in
``[0, 1]``, resized (bilinear) to ``size`` when given (without ``size`` every image must have the
same size). Texts become a :class:`~aisec.data.tweets.TweetDataset` (texts, int64 labels,
class names), the text dataset type aisec's text attacks take.

Labels are class names or integer indices, one kind per column:

- with ``class_names`` (e.g. the model's), a label must be one of them, or every label must be
  an index below their number;
- without, names give the sorted distinct names as classes, and indices ``0..max`` give classes
  named ``"0"``, ``"1"``, ...; an image folder's sub-folder names are always names.

Every problem is a ``ValueError`` that says where: an empty folder or table, an unreadable image
(with its path), an unknown label, a missing column (with the columns present), a label column
that mixes names and indices.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from aisec.data.base import ImageDataset
from aisec.data.tweets import TweetDataset

__all__ = [
    "IMAGE_SUFFIXES",
    "DatasetName",
    "ImageFolderSource",
    "TableSource",
    "UserDataSource",
    "load_image_folder",
    "load_image_source",
    "load_image_table",
    "load_text_source",
    "load_text_table",
    "parse_data_source",
]

IMAGE_SUFFIXES: tuple[str, ...] = (
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".gif",
    ".webp",
    ".tif",
    ".tiff",
    ".ppm",
    ".pgm",
)
_SPLIT = "test"
_INDEX = re.compile(r"[+-]?\d+")
_SHOWN = 5
_MODES = {1: "L", 3: "RGB"}

TableFormat = Literal["csv", "jsonl"]


@dataclass(frozen=True)
class ImageFolderSource:
    """``imagefolder:DIR``: one sub-folder of images per class.

    Attributes:
        path: the folder.
    """

    path: Path

    def __str__(self) -> str:
        return f"imagefolder:{self.path}"


@dataclass(frozen=True)
class TableSource:
    """``csv:FILE`` or ``jsonl:FILE``: a table of images or texts with labels.

    Attributes:
        path: the table file.
        format: ``"csv"`` or ``"jsonl"``.
    """

    path: Path
    format: TableFormat

    def __str__(self) -> str:
        return f"{self.format}:{self.path}"


@dataclass(frozen=True)
class DatasetName:
    """A name without a data-source prefix: one of aisec's datasets (``aisec.data.load``).

    Attributes:
        name: the text as given, e.g. ``"signs"``.
    """

    name: str

    def __str__(self) -> str:
        return self.name


UserDataSource = ImageFolderSource | TableSource
"""A data source that names the user's files."""


def parse_data_source(text: str) -> ImageFolderSource | TableSource | DatasetName:
    """Read a data source; see the module docstring for the grammar.

    Args:
        text: e.g. ``"imagefolder:photos/"``, ``"csv:labels.csv"`` or ``"signs"``.

    Returns:
        A typed source, or a :class:`DatasetName` for anything without a prefix.

    Raises:
        TypeError: ``text`` is not a string.
        ValueError: an empty text, or nothing after a prefix.
    """
    if not isinstance(text, str):
        raise TypeError(f"a data source is a string, got {type(text).__name__}")
    text = text.strip()
    if not text:
        raise ValueError("the data source is empty")
    prefix, colon, rest = text.partition(":")
    if colon and prefix in ("imagefolder", "csv", "jsonl"):
        location = rest.strip()
        if not location:
            raise ValueError(f"{text!r}: nothing after {prefix}:; give a path, e.g. {prefix}:data")
        if prefix == "imagefolder":
            return ImageFolderSource(Path(location))
        return TableSource(Path(location), "csv" if prefix == "csv" else "jsonl")
    suffix = Path(text).suffix.lower()
    if suffix in (".csv", ".jsonl"):
        return TableSource(Path(text), "csv" if suffix == ".csv" else "jsonl")
    return DatasetName(text)


def load_image_source(
    source: str | UserDataSource,
    *,
    size: int | Sequence[int] | None = None,
    image_column: str = "filename",
    label_column: str = "label",
    root: str | Path | None = None,
    class_names: Sequence[str] | None = None,
    channels: int = 3,
) -> ImageDataset:
    """Load an image data source (``imagefolder:``, or a ``csv:``/``jsonl:`` table of files).

    Args:
        source: the source or its text (:func:`parse_data_source`).
        size: ``S`` or ``(H, W)`` to resize every image to; ``None`` keeps the images' common
            size.
        image_column: a table's column of image paths (relative to ``root``).
        label_column: a table's column of labels.
        root: the folder image paths are relative to (default: the table's folder).
        class_names: the classes to map labels to (e.g. the model's), in order.
        channels: 3 (RGB) or 1 (grayscale).

    Returns:
        An :class:`ImageDataset` named after the source, split ``"test"``.

    Raises:
        ValueError: an aisec dataset name, or any problem listed in the module docstring.
    """
    parsed = parse_data_source(source) if isinstance(source, str) else source
    if isinstance(parsed, DatasetName):
        raise ValueError(
            f"{parsed.name!r} is not a data source (imagefolder:DIR, csv:FILE, jsonl:FILE); "
            "aisec's own datasets are loaded with aisec.data.load"
        )
    if isinstance(parsed, ImageFolderSource):
        return load_image_folder(parsed.path, size=size, class_names=class_names, channels=channels)
    return load_image_table(
        parsed.path,
        image_column=image_column,
        label_column=label_column,
        root=root,
        size=size,
        class_names=class_names,
        channels=channels,
        table_format=parsed.format,
    )


def load_text_source(
    source: str | UserDataSource,
    *,
    text_column: str = "text",
    label_column: str = "label",
    class_names: Sequence[str] | None = None,
) -> TweetDataset:
    """Load a text data source (a ``csv:`` or ``jsonl:`` table); see :func:`load_text_table`.

    Raises:
        ValueError: an aisec dataset name, an image folder, or a problem in the table.
    """
    parsed = parse_data_source(source) if isinstance(source, str) else source
    if isinstance(parsed, DatasetName):
        raise ValueError(
            f"{parsed.name!r} is not a data source (csv:FILE or jsonl:FILE for texts); aisec's "
            "own text datasets are loaded by name by the text commands"
        )
    if isinstance(parsed, ImageFolderSource):
        raise ValueError(f"{parsed} holds images; texts come from csv:FILE or jsonl:FILE")
    return load_text_table(
        parsed.path,
        text_column=text_column,
        label_column=label_column,
        class_names=class_names,
        table_format=parsed.format,
    )


def load_image_folder(
    path: str | Path,
    *,
    size: int | Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
    channels: int = 3,
) -> ImageDataset:
    """Load ``DIR/CLASS/IMAGE`` files; the class of an image is its sub-folder's name.

    Args:
        path: the folder of class sub-folders (hidden entries and non-image files are skipped).
        size: ``S`` or ``(H, W)`` to resize to; ``None`` needs images of one size.
        class_names: the classes in order (sub-folder names must be among them); default: the
            sub-folder names, sorted.
        channels: 3 (RGB) or 1 (grayscale).

    Returns:
        An :class:`ImageDataset` with images in ``[0, 1]``.

    Raises:
        ValueError: a missing folder, no class sub-folders, a sub-folder without images, an
            unreadable image, a folder name not in ``class_names``, or images of several sizes
            without ``size``.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"imagefolder: {str(folder)!r} is not a folder")
    target = _check_size(size)
    mode = _check_channels(channels)
    classes = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise ValueError(
            f"imagefolder: {str(folder)!r} has no class sub-folders; expected "
            f"{folder}/CLASS_NAME/IMAGE.png, one sub-folder per class"
        )
    files: list[Path] = []
    folder_labels: list[tuple[str, str | int]] = []
    for class_dir in classes:
        images = sorted(
            f
            for f in class_dir.iterdir()
            if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in IMAGE_SUFFIXES
        )
        if not images:
            raise ValueError(
                f"imagefolder: the class folder {str(class_dir)!r} has no images "
                f"({', '.join(IMAGE_SUFFIXES)})"
            )
        files.extend(images)
        folder_labels.extend((f"folder {class_dir.name!r}", class_dir.name) for _ in images)
    labels, names = _resolve_labels(
        folder_labels, class_names, indices_allowed=class_names is not None
    )
    return ImageDataset(
        f"imagefolder:{folder}", _SPLIT, _read_images(files, target, mode), labels, names
    )


def load_image_table(
    path: str | Path,
    *,
    image_column: str = "filename",
    label_column: str = "label",
    root: str | Path | None = None,
    size: int | Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
    channels: int = 3,
    table_format: TableFormat | None = None,
) -> ImageDataset:
    """Load images listed in a CSV or JSONL table with their labels.

    Args:
        path: the table.
        image_column: the column of image paths, relative to ``root`` (or absolute).
        label_column: the column of labels (class names or indices).
        root: the folder image paths are relative to (default: the table's folder).
        size: ``S`` or ``(H, W)`` to resize to; ``None`` needs images of one size.
        class_names: the classes in order; default: from the labels.
        channels: 3 (RGB) or 1 (grayscale).
        table_format: ``"csv"`` or ``"jsonl"``; default: from the file's extension.

    Returns:
        An :class:`ImageDataset` with images in ``[0, 1]``.

    Raises:
        ValueError: see the module docstring.
    """
    table = Path(path)
    target = _check_size(size)
    mode = _check_channels(channels)
    rows = _read_table(table, table_format, (image_column, label_column))
    base = table.parent if root is None else Path(root)
    files: list[Path] = []
    for where, row in rows:
        name = row[image_column]
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{where}: {image_column!r} must be an image path, got {name!r}")
        files.append(base / name.strip())
    labels, names = _resolve_labels(
        [(where, row[label_column]) for where, row in rows], class_names, indices_allowed=True
    )
    return ImageDataset(
        f"{table_format or _table_format(table)}:{table}",
        _SPLIT,
        _read_images(files, target, mode),
        labels,
        names,
    )


def load_text_table(
    path: str | Path,
    *,
    text_column: str = "text",
    label_column: str = "label",
    class_names: Sequence[str] | None = None,
    table_format: TableFormat | None = None,
) -> TweetDataset:
    """Load texts and labels from a CSV or JSONL table.

    Args:
        path: the table (UTF-8; a CSV needs a header row).
        text_column: the column of texts (an empty text is a valid, empty input).
        label_column: the column of labels (class names or indices).
        class_names: the classes in order (e.g. the model's); default: from the labels.
        table_format: ``"csv"`` or ``"jsonl"``; default: from the file's extension.

    Returns:
        A :class:`~aisec.data.tweets.TweetDataset` with the texts, int64 labels and class names.

    Raises:
        ValueError: see the module docstring; a text that is not a string.
    """
    table = Path(path)
    rows = _read_table(table, table_format, (text_column, label_column))
    texts: list[str] = []
    for where, row in rows:
        text = row[text_column]
        if not isinstance(text, str):
            raise ValueError(f"{where}: {text_column!r} must be a string, got {text!r}")
        texts.append(text)
    labels, names = _resolve_labels(
        [(where, row[label_column]) for where, row in rows], class_names, indices_allowed=True
    )
    return TweetDataset(texts=tuple(texts), labels=labels.numpy(), class_names=names)


def _check_size(size: int | Sequence[int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    values = [size] if isinstance(size, int) else list(size)
    if len(values) not in (1, 2) or any(
        isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values
    ):
        raise ValueError(f"size must be S or (H, W) with positive integers, got {size!r}")
    return (values[0], values[-1])


def _check_channels(channels: int) -> str:
    if channels not in _MODES:
        raise ValueError(f"channels must be 3 (RGB) or 1 (grayscale), got {channels!r}")
    return _MODES[channels]


def _table_format(path: Path) -> TableFormat:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise ValueError(f"{str(path)!r}: a table is a .csv or .jsonl file (or use csv:/jsonl:)")


Row = dict[str, object]


def _read_table(
    path: Path, table_format: TableFormat | None, columns: Sequence[str]
) -> list[tuple[str, Row]]:
    """The table's rows as ``(where, row)`` pairs (``where`` is ``"FILE line N"``), each with
    every one of ``columns``."""
    if not path.is_file():
        raise ValueError(f"the table {str(path)!r} does not exist")
    kind = table_format or _table_format(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"{str(path)!r} is not UTF-8 text ({error})") from error
    rows = _csv_rows(path, text, columns) if kind == "csv" else _jsonl_rows(path, text, columns)
    if not rows:
        raise ValueError(f"the table {str(path)!r} has no rows")
    return rows


def _csv_rows(path: Path, text: str, columns: Sequence[str]) -> list[tuple[str, Row]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = list(reader.fieldnames or [])
    if not header:
        raise ValueError(f"the table {str(path)!r} is empty (a CSV needs a header row)")
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValueError(
            f"{str(path)!r} has no column {', '.join(map(repr, missing))}; its columns are {header}"
        )
    rows: list[tuple[str, Row]] = []
    for row in reader:
        where = f"{path} line {reader.line_num}"
        if any(row.get(c) is None for c in columns):
            raise ValueError(f"{where}: the row has fewer fields than the header {header}")
        rows.append((where, dict(row)))
    return rows


def _jsonl_rows(path: Path, text: str, columns: Sequence[str]) -> list[tuple[str, Row]]:
    rows: list[tuple[str, Row]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{where}: not valid JSON ({error})") from error
        if not isinstance(row, dict):
            raise ValueError(f"{where}: each line must be a JSON object, got {type(row).__name__}")
        missing = [c for c in columns if c not in row]
        if missing:
            raise ValueError(
                f"{where}: no field {', '.join(map(repr, missing))}; its fields are {sorted(row)}"
            )
        rows.append((where, row))
    return rows


def _label_token(where: str, value: object) -> tuple[str, bool]:
    """A label as text and whether it is an integer index."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(
            f"{where}: a label must be a class name or an integer index, got {value!r}"
        )
    if isinstance(value, int):
        return str(value), True
    token = value.strip()
    if not token:
        raise ValueError(f"{where}: the label is empty")
    return token, bool(_INDEX.fullmatch(token))


def _resolve_labels(
    values: Sequence[tuple[str, object]],
    class_names: Sequence[str] | None,
    *,
    indices_allowed: bool,
) -> tuple[Tensor, tuple[str, ...]]:
    """Labels as int64 class indices, and the class names; see the module docstring."""
    names = None if class_names is None else _check_class_names(class_names)
    tokens = [(where, *_label_token(where, value)) for where, value in values]
    if names is not None and all(token in names for _, token, _ in tokens):
        return _as_tensor([names.index(token) for _, token, _ in tokens]), names
    index_rows = [(w, t) for w, t, is_index in tokens if is_index]
    name_rows = [(w, t) for w, t, is_index in tokens if not is_index]
    if index_rows and name_rows and indices_allowed:
        raise ValueError(
            "the label column mixes class names and integer indices (e.g. "
            f"{name_rows[0][1]!r} at {name_rows[0][0]} and {index_rows[0][1]!r} at "
            f"{index_rows[0][0]}); use one kind"
        )
    if index_rows and not name_rows and indices_allowed:
        return _index_labels(index_rows, names)
    return _name_labels([(w, t) for w, t, _ in tokens], names)


def _index_labels(
    rows: Sequence[tuple[str, str]], names: tuple[str, ...] | None
) -> tuple[Tensor, tuple[str, ...]]:
    indices = [int(token) for _, token in rows]
    count = len(names) if names is not None else max(indices) + 1
    for (where, token), index in zip(rows, indices, strict=True):
        if not 0 <= index < count:
            known = f"the {count} classes {list(names)}" if names is not None else "indices >= 0"
            raise ValueError(f"{where}: unknown label {token!r}; labels are {known}")
    return _as_tensor(indices), names or tuple(str(i) for i in range(count))


def _name_labels(
    rows: Sequence[tuple[str, str]], names: tuple[str, ...] | None
) -> tuple[Tensor, tuple[str, ...]]:
    if names is None:
        names = tuple(sorted({token for _, token in rows}))
    unknown = [(where, token) for where, token in rows if token not in names]
    if unknown:
        shown = sorted({token for _, token in unknown})[:_SHOWN]
        raise ValueError(
            f"unknown label {unknown[0][1]!r} at {unknown[0][0]} ({len(unknown)} rows with "
            f"labels not among the classes, e.g. {shown}); the classes are {list(names)}"
        )
    return _as_tensor([names.index(token) for _, token in rows]), names


def _check_class_names(class_names: Sequence[str]) -> tuple[str, ...]:
    if isinstance(class_names, str):
        raise TypeError("class_names must be a sequence of names, not one string")
    names = tuple(class_names)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError("class_names must be non-empty strings")
    if len(set(names)) != len(names):
        raise ValueError(f"class_names must be distinct, got {list(names)}")
    return names


def _as_tensor(indices: Sequence[int]) -> Tensor:
    return torch.tensor(list(indices), dtype=torch.int64)


def _read_images(files: Sequence[Path], size: tuple[int, int] | None, mode: str) -> Tensor:
    """Stack the images as float32 ``(N, C, H, W)`` in ``[0, 1]``."""
    images = [_read_image(f, size, mode) for f in files]
    shapes = {tuple(image.shape) for image in images}
    if len(shapes) > 1:
        first = images[0].shape
        other = next(i for i, image in enumerate(images) if image.shape != first)
        raise ValueError(
            f"the images have different sizes ({files[0]} is {first[1]}x{first[2]}, "
            f"{files[other]} is {images[other].shape[1]}x{images[other].shape[2]}); give "
            "size= (--size) to resize them all"
        )
    return torch.stack(images).float().div_(255.0)


def _read_image(path: Path, size: tuple[int, int] | None, mode: str) -> Tensor:
    """One image as uint8 ``(C, H, W)``, converted to ``mode`` and resized to ``size``."""
    try:
        with Image.open(path) as image:
            converted = image.convert(mode)
    except FileNotFoundError as error:
        raise ValueError(f"the image {str(path)!r} does not exist") from error
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise ValueError(f"cannot read the image {str(path)!r}: {error}") from error
    if size is not None and converted.size != (size[1], size[0]):
        converted = converted.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    array = np.asarray(converted, dtype=np.uint8)
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(array.copy()).permute(2, 0, 1)
