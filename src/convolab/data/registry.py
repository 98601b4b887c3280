"""The dataset registry: files, pinned checksums, mirrors, shapes and class names of each dataset.

Checksums are never computed from a file of unknown origin. Each value below is published by the
dataset authors (the MD5s) or by at least two independent public projects (the SHA-256s; see
docs/data.md), and the ones for files on the development machine were cross-checked there:
MNIST t10k against its published MD5s, Fashion-MNIST against the published decompressed-content MD5s
(Debian recompresses the .gz files, so their archive hashes differ but their content is identical).

``sha256``/``md5`` are of the file as distributed (``.gz``/``.tar.gz``); ``content_sha256``/``content_md5``
are of the decompressed IDX bytes, so a recompressed or gunzipped copy can still be verified.

EMNIST-digits is left out: upstream ships its files only inside a 536 MB zip, and the per-file
SHA-256s of its test files are published by a single unofficial mirror, so they cannot be pinned
with confidence.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FileSpec:
    """One distributed file and its pinned checksums (hex digests; ``None`` when not published)."""

    name: str
    sha256: str
    md5: str | None = None
    content_sha256: str | None = None
    content_md5: str | None = None
    size: int | None = None

    @property
    def raw_name(self) -> str:
        """The name of the decompressed file (``train-images-idx3-ubyte`` for ``...ubyte.gz``)."""
        return self.name[:-3] if self.name.endswith(".gz") and ".tar." not in self.name else self.name


@dataclass(frozen=True)
class DatasetSpec:
    """Everything convolab knows about a named dataset.

    Attributes:
        name: registry key (``mnist``); title: display name; kind: ``idx`` or ``cifar10-binary``.
        files: the distributed files by name.
        splits: split name -> (images file, labels file) for ``idx``; the archive for cifar.
        mirrors: base URLs, tried in order; the file name is appended.
        shape: ``(C, H, W)`` of one image; counts: split -> number of samples.
        classes: class names in label order.
    """

    name: str
    title: str
    kind: str
    files: dict[str, FileSpec]
    splits: dict[str, tuple[str, ...]]
    mirrors: tuple[str, ...]
    shape: tuple[int, int, int]
    counts: dict[str, int]
    classes: tuple[str, ...]
    homepage: str = ""
    members: dict[str, str] = field(default_factory=dict)  # extracted member -> sha256 (cifar)

    def split_files(self, split: str) -> tuple[FileSpec, ...]:
        return tuple(self.files[n] for n in self.splits[split])


_IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
_IDX_SPLITS: dict[str, tuple[str, ...]] = {"train": _IDX_FILES[:2], "test": _IDX_FILES[2:]}
# (sha256, md5, content sha256, content md5) of one file
_Checksums = tuple[str, str, "str | None", "str | None"]


def _idx_dataset(
    name: str,
    title: str,
    checksums: tuple[_Checksums, _Checksums, _Checksums, _Checksums],
    *,
    mirrors: tuple[str, ...],
    classes: tuple[str, ...],
    homepage: str,
) -> DatasetSpec:
    """An MNIST-format dataset: four IDX files, 60000 train and 10000 test 28x28 grey images.

    Args:
        checksums: one ``(sha256, md5, content sha256, content md5)`` per file of ``_IDX_FILES``, in
            that order.
    """
    files = {
        f: FileSpec(f, sha256=sha, md5=md5, content_sha256=c_sha, content_md5=c_md5)
        for f, (sha, md5, c_sha, c_md5) in zip(_IDX_FILES, checksums, strict=True)
    }
    return DatasetSpec(
        name=name,
        title=title,
        kind="idx",
        files=files,
        splits=_IDX_SPLITS,
        mirrors=mirrors,
        shape=(1, 28, 28),
        counts={"train": 60000, "test": 10000},
        classes=classes,
        homepage=homepage,
    )


# MD5s: yann.lecun.com/exdb/mnist as listed by torchvision; SHA-256s: torchvision's prototype datasets
# and tensorflow-datasets' url checksums.
MNIST = _idx_dataset(
    "mnist",
    "MNIST handwritten digits",
    (
        (
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "6bbc9ace898e44ae57da46a324031adb",
        ),  # train-images-idx3-ubyte.gz
        (
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "d53e105ee54ea40749a09fcbcd1e9432",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "a25bea736e30d166cdddb491f175f624",
        ),  # train-labels-idx1-ubyte.gz
        (
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "9fb629c4189551a2d022fa330f9573f3",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "2646ac647ad5339dbf082846283269ea",
        ),  # t10k-images-idx3-ubyte.gz
        (
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            "ec29112dd5afa0611ce80d1b7f02629c",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            "27ae3e4e09519cfbb04c329615203637",
        ),  # t10k-labels-idx1-ubyte.gz
    ),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    classes=tuple(str(d) for d in range(10)),
    homepage="http://yann.lecun.com/exdb/mnist/",
)

# MD5s of the .gz files: the Fashion-MNIST README; content MD5s: torchvision-style loaders that
# pin the decompressed files; SHA-256s: torchvision prototype datasets and others.
FASHION_MNIST = _idx_dataset(
    "fashion-mnist",
    "Fashion-MNIST (Zalando article images)",
    (
        (
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        ),  # train-images-idx3-ubyte.gz
        (
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "25c81989df183df01b3e8a0aad5dffbe",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "9018921c3c673c538a1fc5bad174d6f9",
        ),  # train-labels-idx1-ubyte.gz
        (
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "bef4ecab320f06d8554ea6380940ec79",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "8181f5470baa50b63fa0f6fddb340f0a",
        ),  # t10k-images-idx3-ubyte.gz
        (
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            "bb300cfdad3c16e7a12a480ee83cd310",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            "15d484375f8d13e6eb1aabb0c3f46965",
        ),  # t10k-labels-idx1-ubyte.gz
    ),
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    classes=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    homepage="https://github.com/zalandoresearch/fashion-mnist",
)

# MD5s: torchvision's KMNIST; SHA-256s: torchvision prototype datasets, the KMNIST data cards.
# No published content checksums: a gunzipped copy can be loaded but is reported as unverified.
KMNIST = _idx_dataset(
    "kmnist",
    "Kuzushiji-MNIST (cursive Japanese characters)",
    (
        (
            "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4",
            "bdb82020997e1d708af4cf47b453dcf7",
            None,
            None,
        ),  # train-images-idx3-ubyte.gz
        (
            "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",
            "e144d726b3acfaa3e44228e80efcd344",
            None,
            None,
        ),  # train-labels-idx1-ubyte.gz
        (
            "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5",
            "5c965bf0a639b31b8f53240b1b52f4d7",
            None,
            None,
        ),  # t10k-images-idx3-ubyte.gz
        (
            "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c",
            "7320c461ea6c1c855c0b718fb2a4b134",
            None,
            None,
        ),  # t10k-labels-idx1-ubyte.gz
    ),
    mirrors=(
        "https://codh.rois.ac.jp/kmnist/dataset/kmnist/",
        "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
    ),
    classes=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
    homepage="https://github.com/rois-codh/kmnist",
)

_CIFAR_ARCHIVE = "cifar-10-binary.tar.gz"
# The binary version (never the pickled "python version"). MD5: the CIFAR page; SHA-256 and size:
# tensorflow-datasets and others. Member SHA-256s: torchvision's Ruby port (for extracted copies).
CIFAR10 = DatasetSpec(
    name="cifar10",
    title="CIFAR-10 (binary version)",
    kind="cifar10-binary",
    files={
        _CIFAR_ARCHIVE: FileSpec(
            _CIFAR_ARCHIVE,
            sha256="c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
            md5="c32a1d4ab5d03f1284b67883e8d87530",
            size=170052171,
        )
    },
    splits={"train": (_CIFAR_ARCHIVE,), "test": (_CIFAR_ARCHIVE,)},
    mirrors=("https://www.cs.toronto.edu/~kriz/",),
    shape=(3, 32, 32),
    counts={"train": 50000, "test": 10000},
    classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
    members={
        "data_batch_1.bin": "cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5",
        "data_batch_2.bin": "a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed",
        "data_batch_3.bin": "bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67",
        "data_batch_4.bin": "014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48",
        "data_batch_5.bin": "755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add",
        "test_batch.bin": "8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b",
    },
)

DATASETS: dict[str, DatasetSpec] = {s.name: s for s in (MNIST, FASHION_MNIST, KMNIST, CIFAR10)}
FOLDER_PREFIX = "folder:"


def get_spec(name: str) -> DatasetSpec:
    """The spec of a registered dataset.

    Raises:
        ValueError: for an unknown name, suggesting the nearest registered names.
    """
    if name in DATASETS:
        return DATASETS[name]
    raise ValueError(unknown_dataset_message(name))


def unknown_dataset_message(name: str) -> str:
    known = list(DATASETS) + [f"{FOLDER_PREFIX}PATH"]
    near = difflib.get_close_matches(name.lower(), list(DATASETS), n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(near)}? " if near else ""
    return f"unknown dataset {name!r}; {hint}known: {', '.join(known)}"
