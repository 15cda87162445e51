"""Vector formats: how a generation stores its vectors, and converting between them.

``IndexSettings.vector_format`` (recorded in the manifest) names one of four storages, each the
inner index of the generation's ``IndexIDMap2`` (ids = SQLite row ids)::

    float32   IndexFlatIP                  4 bytes a dimension: exact, the reference
    float16   IndexScalarQuantizer(fp16)   2 bytes a dimension: cosine to float32 > 0.99999
    sq8       IndexScalarQuantizer(8bit)   1 byte a dimension: a range per dimension, 256 steps
    pq        IndexPQ(d / 4 codes of 8 bits) 1 byte per 4 dimensions: for very large indexes

Every format is searched by inner product against the float32 query; the HNSW graph above the
size threshold is built over the same stored codes and shares them (``qa.store.vectors``), so
no vector is kept twice. A FAISS file says what it holds, so reading needs no setting: the
manifest's format is what a new index, a rebuild and a conversion write.

Trained formats learn from the first vectors they get. ``sq8``'s ranges are each dimension's
observed minimum and maximum, widened by a tenth, and never narrower than +-6/sqrt(d) (six
standard deviations of a component of a random unit vector; all-MiniLM-L6-v2's largest
component over the sample corpus is 0.26, inside the floor's 0.31), so a first write of one
short article rarely constrains the vectors that come later. A later vector outside the ranges
widens them (``make_room``): the stored codes are decoded and encoded again on the wider grid,
so nothing is ever clipped, at the cost of one more rounding of the older vectors (half a step
of the new grid) each time it happens. ``pq`` needs k-means on at least
``PQ_TRAIN_MIN`` vectors, so an index becomes ``pq`` by conversion (``qa rebuild
--vector-format pq``), not by a first small write.

faiss is imported inside the functions that use it, so ``import qa`` stays light.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, get_args

import numpy as np

from qa.errors import ConfigError
from qa.models import VectorFormat

if TYPE_CHECKING:
    from qa.embedding import Vectors

FaissIndex = Any  # faiss's SWIG stubs disagree with its API
FORMATS: tuple[VectorFormat, ...] = get_args(VectorFormat)
# k-means of 256 centroids per PQ code: faiss asks for 39 points per centroid.
PQ_TRAIN_MIN = 39 * 256
_TRAIN_MAX = 100_000  # vectors a conversion trains on: more train pq no better, only slower
_PQ_DIMENSIONS_PER_CODE = 4
_SQ8_FLOOR_SIGMAS = 6.0
_SQ8_WIDEN = 0.1
_SLICE = 65_536  # vectors decoded at a time when converting: 100 MB of float32 at 384 dimensions
# A fresh embedding of a stored text against its stored vector: float16 keeps cosine >= 0.9999,
# sq8 >= 0.998 (tests/test_vector_formats.py), inside ``qa.store.check.MIN_COSINE``; pq's
# reconstruction gave cosine 0.95-0.99 on the sample corpus's sentences, so ``qa check`` accepts
# less from it, still far above a foreign or damaged vector's ~0.
PQ_MIN_COSINE = 0.85
# The least cosine of a stored vector to the vector written, per format: what rounding alone may
# cost (measured in tests/test_vector_formats.py: float16 0.99999+, sq8 0.9990+, pq 0.90+; pq's
# floor is the one ``qa check`` accepts). Tests that compare stored vectors hold them to it.
KEEPS: dict[VectorFormat, float] = {"float32": 0.999999, "float16": 0.9999, "sq8": 0.998, "pq": PQ_MIN_COSINE}
_PQ_UNIT_SLACK = 0.25  # still far below the 1e38 or infinite scores that overwritten bytes give


def new_index(dimension: int, vector_format: VectorFormat = "float32") -> FaissIndex:
    """An empty exact index in ``vector_format``: inner product, explicit ids."""
    faiss = _faiss()
    ip = faiss.METRIC_INNER_PRODUCT
    if vector_format == "float32":
        inner = faiss.IndexFlatIP(dimension)
    elif vector_format == "float16":
        inner = faiss.IndexScalarQuantizer(dimension, faiss.ScalarQuantizer.QT_fp16, ip)
    elif vector_format == "sq8":
        inner = faiss.IndexScalarQuantizer(dimension, faiss.ScalarQuantizer.QT_8bit, ip)
    elif vector_format == "pq":
        inner = faiss.IndexPQ(dimension, _pq_codes(dimension), 8, ip)
    else:
        raise ValueError(f"unknown vector format {vector_format!r}; one of {', '.join(FORMATS)}")
    return faiss.IndexIDMap2(inner)


def format_of(index: FaissIndex) -> VectorFormat | None:
    """The format of an exact index as read from its file, or None for a storage no format makes."""
    faiss = _faiss()
    inner = faiss.downcast_index(index.index)
    if isinstance(inner, faiss.IndexFlat):
        return "float32"
    if isinstance(inner, faiss.IndexPQ):
        return "pq"
    if isinstance(inner, faiss.IndexScalarQuantizer):
        kinds = {faiss.ScalarQuantizer.QT_fp16: "float16", faiss.ScalarQuantizer.QT_8bit: "sq8"}
        found = kinds.get(inner.sq.qtype)
        return found  # type: ignore[return-value]  # a value of the Literal, or None
    return None


def unit_slack(index: FaissIndex, exact: float) -> float:
    """How far past unit length a sound stored vector of ``index`` may reach: ``exact`` (what
    float rounding needs) for every format but pq, whose decoded vectors are sums of centroids
    (norms 0.89-1.04 on noisy copies of the sample corpus's sentences)."""
    return _PQ_UNIT_SLACK if format_of(index) == "pq" else exact


def filters_in_place(index: FaissIndex) -> bool:
    """Whether faiss can restrict a search of this exact index to some ids (IndexPQ cannot)."""
    faiss = _faiss()
    return not isinstance(faiss.downcast_index(index.index), faiss.IndexPQ)


def ensure_trained(index: FaissIndex, vectors: Vectors) -> None:
    """Train an untrained exact index on ``vectors`` (its first write); a no-op once trained.

    Raises:
        ConfigError: a ``pq`` index got fewer than ``PQ_TRAIN_MIN`` vectors to learn from.
    """
    if index.is_trained or not len(vectors):
        return
    faiss = _faiss()
    inner = faiss.downcast_index(index.index)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if isinstance(inner, faiss.IndexScalarQuantizer):
        _train_sq8(inner, vectors[np.isfinite(vectors).all(axis=1)])
    elif len(vectors) < PQ_TRAIN_MIN:
        raise ConfigError(
            f"The pq vector format learns its codes from the first vectors written and needs at least "
            f"{PQ_TRAIN_MIN:,}; this write has {len(vectors):,}. Build the index as sq8 and convert it "
            "when it is large: `qa rebuild --index DIR --vector-format pq --reuse-vectors`.")
    else:
        inner.verbose = False
        inner.train(_sample(vectors, _TRAIN_MAX))
    index.is_trained = True


def make_room(index: FaissIndex, vectors: Vectors) -> None:
    """Widen an sq8 index's ranges, re-encoding what it holds, when ``vectors`` fall outside them
    (see the module docstring); a no-op for every other format and for vectors that fit."""
    faiss = _faiss()
    inner = faiss.downcast_index(index.index)
    if not (isinstance(inner, faiss.IndexScalarQuantizer) and inner.sq.qtype == faiss.ScalarQuantizer.QT_8bit):
        return
    vectors = vectors[np.isfinite(vectors).all(axis=1)]  # (n, d): an embedder's NaN row sets no range
    if not len(vectors):
        return
    ranges = faiss.vector_to_array(inner.sq.trained)
    low, span = ranges[: inner.d], ranges[inner.d:]
    new_low = np.minimum(low, vectors.min(axis=0))
    new_high = np.maximum(low + span, vectors.max(axis=0))
    if np.array_equal(new_low, low) and np.array_equal(new_high, low + span):
        return
    margin = (new_high - new_low) * _SQ8_WIDEN
    new_low = np.where(new_low < low, new_low - margin, low)
    new_high = np.where(new_high > low + span, new_high + margin, low + span)
    old = faiss.clone_index(inner)  # the codes on the old grid, decoded a slice at a time below
    inner.reset()
    faiss.copy_array_to_vector(np.concatenate([new_low, new_high - new_low]).astype(np.float32), inner.sq.trained)
    for first in range(0, old.ntotal, _SLICE):
        inner.add(old.reconstruct_n(first, min(_SLICE, old.ntotal - first)))  # (n, d)


def convert(index: FaissIndex, vector_format: VectorFormat) -> FaissIndex:
    """A new exact index in ``vector_format`` holding ``index``'s vectors (as stored) and ids.

    Trained formats learn from a seeded sample of ``_TRAIN_MAX`` vectors (sq8 then widens for
    any vector outside it, ``make_room``); vectors are decoded and encoded ``_SLICE`` at a time,
    so the float32 copy never exists whole.

    Raises:
        ConfigError: ``pq`` was asked for fewer than ``PQ_TRAIN_MIN`` vectors.
    """
    faiss = _faiss()
    source = faiss.downcast_index(index.index)
    ids = faiss.vector_to_array(index.id_map).astype(np.int64)
    target = new_index(source.d, vector_format)
    if not len(ids):
        return target
    if not target.is_trained:
        ensure_trained(target, _decode(source, np.sort(_sample(np.arange(len(ids)), _TRAIN_MAX))))
    for first in range(0, len(ids), _SLICE):
        last = min(first + _SLICE, len(ids))
        part = source.reconstruct_n(first, last - first)  # (n, d)
        make_room(target, part)
        target.add_with_ids(part, ids[first:last])
    return target


def _train_sq8(inner: FaissIndex, vectors: Vectors) -> None:
    """Set each dimension's range from ``vectors`` (see the module docstring) without faiss's
    training, which would fit the ranges tightly to a possibly tiny first write."""
    faiss = _faiss()
    if not len(vectors):  # nothing finite to learn from: the floor alone
        vectors = np.zeros((1, inner.d), dtype=np.float32)
    low, high = vectors.min(axis=0), vectors.max(axis=0)  # (d,) each
    margin = (high - low) * _SQ8_WIDEN
    floor = _SQ8_FLOOR_SIGMAS / math.sqrt(inner.d)
    low = np.minimum(low - margin, -floor)
    high = np.maximum(high + margin, floor)
    faiss.copy_array_to_vector(np.concatenate([low, high - low]).astype(np.float32), inner.sq.trained)
    inner.is_trained = True


def _decode(source: FaissIndex, positions: np.ndarray) -> Vectors:
    """The stored vectors at ``positions`` of a (non-IDMap) index: (len(positions), d)."""
    return np.asarray(source.reconstruct_batch(positions.astype(np.int64)), dtype=np.float32)


def _sample(values: np.ndarray, most: int) -> np.ndarray:
    """At most ``most`` rows of ``values``, seeded (the same conversion trains the same way)."""
    if len(values) <= most:
        return values
    return values[np.random.default_rng(0).choice(len(values), most, replace=False)]


def _pq_codes(dimension: int) -> int:
    """Codes per vector: about one per 4 dimensions, a divisor of ``dimension`` as PQ needs."""
    return next(m for m in range(max(1, dimension // _PQ_DIMENSIONS_PER_CODE), 0, -1) if dimension % m == 0)


def _faiss() -> Any:
    import faiss

    return faiss
