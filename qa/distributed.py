"""Distributed ingest on Ray: read, parse and chunk in Ray Data tasks, embed in an actor pool,
write here, in this one process.

``qa ingest PATHS --ray [auto|ADDRESS]`` runs ``ingest_ray`` instead of ``qa.indexing.ingest_paths``.
The stages are the local ones (``qa.ingest.parse_file``, ``qa.chunking``, ``BundledEmbedder``) and
the writer decides and commits through the same ``Outcomes`` and ``BatchWriter``, so the index
is the one a local ingest builds; only where the work runs changes::

    this process                  Ray Data tasks                  actor pool (model loaded once each)
    expand PATHS, check names ->  read (or take shipped bytes), -> embed the text rows, batch_size
                                  parse, skip unchanged, chunk     rows a call, on CPUs or GPUs
    one writer  <- rows stream back in order: each article's header row, then one row per
                   embedded text (its chunks, then its sentences), each with its vector;
                   ``Outcomes`` decides, ``BatchWriter`` commits crash-safe batches

How files reach the workers (``RayOptions.ship_files``, ``--ship-files``):

- **by path** (the default): this process expands PATHS (directories, globs) on its own file
  system, and a worker reads each file at its absolute path. That holds on a local cluster and
  on one whose nodes mount the corpus at the same path (NFS, a mounted bucket). A file this
  process sees and a worker does not is rejected with a reason that says to ship the files.
- **shipped**: this process reads every file (the same size limit) and its bytes travel through
  Ray's object store; workers only parse them. For a cluster that cannot see this machine's
  files; this process then holds the corpus's bytes while the dataset is built.

An embedding actor that dies (a killed process, a lost node) is restarted and the batch it held
is run again (Ray Data's default for actor pools); the rows come back in order all the same, so
nothing is lost or written twice. A driver that dies leaves the index as its last commit left it.
The workers need article-qa installed (the same version) and the model cache of their own node.

Ray is imported only inside the functions here, so ``import qa`` and a local ``qa ingest`` never
load it; it comes with the ``ray`` extra (``pip install '.[ray]'``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from qa.chunking import chunk_article, split_sentences
from qa.embedding import BundledEmbedder, Vectors
from qa.embedding.onnx import BATCH
from qa.errors import ConfigError, IngestError
from qa.indexing import BatchWriter, Outcomes, StageSeconds, prepare, texts_of, unchanged
from qa.ingest import DEFAULT_MAX_BYTES, check_path, iter_paths, parse_file, read_bytes
from qa.models import Article, Chunk, IndexSettings, IngestReport, Rejection, Sentence
from qa.progress import Progress
from qa.settings import Backend, Settings

if TYPE_CHECKING:
    from ray.data import Dataset

    from qa.store import Store

# Files per parse task call: a call's overhead is small beside parsing and chunking one file.
_FILES_PER_CALL = 4
_CONNECT_TIMEOUT_S = 5.0
# Rows of the stream (one schema, as Ray Data blocks are tables): ``kind`` is one of these.
_ARTICLE, _TEXT, _REJECTED = "article", "text", "rejected"


class RayOptions(BaseModel):
    """How ``ingest_ray`` uses the cluster; the ``qa ingest --ray*`` flags fill it.

    Example:
        >>> RayOptions(address="auto", batch_size=512, gpus_per_actor=1).gpus_per_actor
        1.0
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    address: str = Field(default="auto", min_length=1,
                         description="'auto': a running local cluster, else a new one; or HOST:PORT, ray://HOST:PORT")
    actors: int | None = Field(default=None, ge=1,
                               description="most embedding actors; None: as many as the cluster's CPUs (or GPUs) hold")
    # On CPUs the model still runs 32 texts a forward pass (ONNX Runtime: 256 at once took 3x the
    # CPU time, measured on 693 SQuAD texts); on a GPU a pass takes the whole call.
    batch_size: int = Field(default=256, ge=1, description="texts per embedding call (and forward pass on a GPU)")
    cpus_per_actor: float = Field(default=1.0, gt=0)
    gpus_per_actor: float = Field(default=0.0, ge=0, description="above 0: the torch backend on the GPU")
    ship_files: bool = Field(default=False, description="send the files' bytes rather than their paths")


class Parsed(BaseModel):
    """An article as a worker parsed it, with its chunks and sentences (none when it was unchanged).

    A header row of the stream carries this as JSON; the vectors of ``texts_of`` its chunks and
    sentences follow it, one row each.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    article: Article
    chunks: list[Chunk]
    sentences: list[Sentence]


def ingest_ray(
    store: Store, targets: Iterable[str | os.PathLike[str]], options: RayOptions, *,
    settings: Settings | None = None, max_bytes: int = DEFAULT_MAX_BYTES, progress: bool | Progress = False,
    timings: StageSeconds | None = None, actor: str | None = None,
) -> IngestReport:
    """Ingest files, directories or globs into ``store`` on a Ray cluster; see ``qa.indexing.ingest_articles``.

    Articles already stored with the same content are skipped, changed ones replaced, exactly
    as a local ingest does, and commits come in batches of ``settings.batch_vectors`` vectors,
    so a crash loses at most one batch and a re-run resumes. The embedding actors run
    ``settings.embedding_backend`` (the torch backend when they hold GPUs).

    Args:
        options: the cluster's address, actors, batch size, resources and how files travel.
        settings: backend, model cache and commit size (default: ``Settings.from_env()``).
        progress: True for a bar on stderr (vectors received), or a callback ``(files done, files)``.
        timings: ``embed`` gets the seconds spent waiting for the cluster (reading, parsing,
            chunking and embedding there), ``write`` the commits here.

    Raises:
        ConfigError: Ray is not installed, or no cluster answers at ``options.address``.
    """
    settings = settings or Settings.from_env()
    joined = _connect(options.address)
    try:
        return _ingest(store, targets, options, settings, max_bytes, progress, timings, actor)
    finally:
        if joined:
            import ray

            ray.shutdown()


def _connect(address: str) -> bool:
    """Join the cluster at ``address`` unless this process already has; returns whether it joined
    here (and so must leave again): a caller's own ``ray.init`` is left alone.
    """
    if importlib.util.find_spec("ray") is None:
        raise ConfigError("--ray needs Ray, which is not installed: pip install '.[ray]' "
                          "(or pip install 'article-qa[ray]').")
    import ray

    if ray.is_initialized():
        return False
    if address != "auto":
        _reachable(address)
    try:
        ray.init(address=None if address == "auto" else address, include_dashboard=False,
                 logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ConfigError(f"Could not join the Ray cluster at {address}: {e}") from e
    return True


def _reachable(address: str) -> None:
    """Refuse at once an address where nothing listens (``ray.init`` would retry for a minute)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"The Ray address {address!r} is not HOST:PORT or ray://HOST:PORT; "
                          "pass --ray auto to use a local cluster.")
    try:
        socket.create_connection((host, int(port)), timeout=_CONNECT_TIMEOUT_S).close()
    except OSError as e:
        raise ConfigError(f"No Ray cluster answers at {address} ({e.strerror or e}): start one there with "
                          "`ray start --head`, or pass --ray auto to start a local one.") from e


def _ingest(store: Store, targets: Iterable[str | os.PathLike[str]], options: RayOptions, settings: Settings,
            max_bytes: int, progress: bool | Progress, timings: StageSeconds | None,
            actor: str | None) -> IngestReport:
    start = time.perf_counter()
    stages = timings if timings is not None else StageSeconds()
    files, count, read_rejected = _files(targets, options.ship_files, max_bytes)
    outcomes = Outcomes(store, store.content_hashes())
    writer = BatchWriter(store, settings.batch_vectors, stages, actor)
    bar = _Bar(progress, count)
    try:
        waited = time.perf_counter()
        stream = _articles(_dataset(files, outcomes.known, store.settings, settings, options, max_bytes)) \
            if files else iter(())
        for seq, item in stream:
            stages.embed += time.perf_counter() - waited
            if isinstance(item, Rejection):
                read_rejected.append((seq, _hinted(item)))
            else:
                parsed, vectors = item
                if outcomes.admit(parsed.article) and outcomes.accept(parsed.article, parsed.chunks):
                    writer.add(prepare(parsed.article, parsed.chunks, parsed.sentences, vectors))
            bar.advance(seq, len(item[1]) if isinstance(item, tuple) else 0)
            waited = time.perf_counter()
        writer.flush()
    finally:
        bar.close()
    report = outcomes.report(writer.written, time.perf_counter() - start)
    read = [r for _, r in sorted(read_rejected, key=lambda pair: pair[0])]
    return report.model_copy(update={"rejected": [*read, *report.rejected]})


def _files(targets: Iterable[str | os.PathLike[str]], ship: bool,
           max_bytes: int) -> tuple[list[dict[str, Any]], int, list[tuple[int, Rejection]]]:
    """The rows the parse tasks start from, how many files there are, and those refused here already.

    A row holds the file's number, its path as given (what the articles' ``source`` names, as in
    a local ingest) and either the absolute path a worker reads or the bytes read here to ship.
    """
    files: list[dict[str, Any]] = []
    rejected: list[tuple[int, Rejection]] = []
    count = 0
    for seq, path in enumerate(iter_paths(targets)):
        count += 1
        try:
            check_path(path)
            raw = read_bytes(path, max_bytes) if ship else b""
        except IngestError as e:
            rejected.append((seq, Rejection(path=e.path, reason=e.reason)))
            continue
        files.append({"seq": seq, "path": str(path), "absolute": "" if ship else str(path.absolute()), "raw": raw})
    return files, count, rejected


def _hinted(rejection: Rejection) -> Rejection:
    """A worker's "file not found" for a file this process sees says how to get it to the workers."""
    if rejection.reason == "file not found" and Path(rejection.path).is_file():
        return rejection.model_copy(update={"reason": "file not found by the Ray worker that read it (it is "
                                            "here): pass --ship-files when the workers cannot see these paths"})
    return rejection


def _dataset(files: list[dict[str, Any]], known: dict[str, str], index: IndexSettings, settings: Settings,
             options: RayOptions, max_bytes: int) -> Dataset:
    """The stream: files -> parse tasks -> embedding actors, its rows in the order of the files."""
    import ray
    import ray.data

    logging.getLogger("ray.data").setLevel(logging.WARNING)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # the writer decides in file order, as locally
    context.enable_progress_bars = False  # this process draws one bar, in vectors
    cpu = options.gpus_per_actor == 0
    largest = _pool_size(ray.cluster_resources(), options)
    parsed = ray.data.from_items(files).map_batches(
        _parse_files, batch_size=_FILES_PER_CALL,
        fn_kwargs={"known": known, "index": index, "max_bytes": max_bytes})
    return parsed.repartition(target_num_rows_per_block=options.batch_size).map_batches(
        _Embed, batch_size=options.batch_size,
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=largest),
        fn_constructor_kwargs={
            "backend": settings.embedding_backend if cpu else "torch", "cache_dir": settings.cache_dir,
            "device": "cpu" if cpu else "cuda", "threads": max(1, int(options.cpus_per_actor)) if cpu else None,
            "batch_size": BATCH if cpu else options.batch_size},
        num_cpus=options.cpus_per_actor, num_gpus=options.gpus_per_actor or None)


def _pool_size(resources: dict[str, float], options: RayOptions) -> int:
    """The most embedding actors: ``options.actors``, else as many as the cluster's CPUs or GPUs hold."""
    if options.actors is not None:
        return options.actors
    if options.gpus_per_actor:
        return max(1, int(resources.get("GPU", 0) // options.gpus_per_actor))
    return max(1, int(resources.get("CPU", 1) // options.cpus_per_actor))


def _parse_files(batch: dict[str, np.ndarray], known: dict[str, str], index: IndexSettings,
                 max_bytes: int) -> dict[str, list[Any]]:
    """A parse task: read (or take) each file's bytes, parse, skip unchanged articles, chunk.

    Returns rows: per file a rejection, or per article a header (``Parsed`` as JSON) followed by
    one row per text to embed, in ``texts_of`` order.
    """
    rows: dict[str, list[Any]] = {"seq": [], "kind": [], "payload": [], "text": []}

    def add(seq: int, kind: str, payload: str = "", text: str = "") -> None:
        for column, value in zip(rows, (seq, kind, payload, text), strict=True):
            rows[column].append(value)

    for seq, path, absolute, raw in zip(batch["seq"].tolist(), batch["path"].tolist(), batch["absolute"].tolist(),
                                        batch["raw"].tolist(), strict=True):
        try:
            articles = parse_file(Path(path), raw or _read(absolute, path, max_bytes))
        except IngestError as e:
            add(seq, _REJECTED, Rejection(path=e.path, reason=e.reason).model_dump_json())
            continue
        for article in articles:
            chunks: list[Chunk] = []
            sentences: list[Sentence] = []
            if not unchanged(known, article):
                sentences = split_sentences(article.text)
                chunks = chunk_article(article, sentences, index)
            add(seq, _ARTICLE, Parsed(article=article, chunks=chunks, sentences=sentences).model_dump_json())
            for text in texts_of(article, chunks, sentences, index):
                add(seq, _TEXT, text=text)
    return rows


def _read(absolute: str, path: str, max_bytes: int) -> bytes:
    """The bytes at ``absolute``; a refusal names the file as given (``path``), as a local ingest does."""
    try:
        return read_bytes(Path(absolute), max_bytes)
    except IngestError as e:
        raise IngestError(path, e.reason) from None


class _Embed:
    """An embedding actor: loads the model once, then embeds the text rows of every batch it gets.

    Header and rejection rows pass through with a zero vector, so the stream keeps one schema.
    """

    def __init__(self, backend: Backend, cache_dir: Path | None, device: str, threads: int | None,
                 batch_size: int) -> None:
        cache = Settings(cache_dir=cache_dir).model_cache()  # this node's cache unless one was named
        self.embedder = BundledEmbedder(backend, cache / "onnx", device=device, threads=threads,
                                        batch_size=batch_size)
        self.embedder.warm_up()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = batch["kind"] == _TEXT
        vectors = np.zeros((len(texts), self.embedder.dimension), dtype=np.float32)  # (rows, dim)
        if texts.any():
            vectors[texts] = self.embedder.encode_documents(batch["text"][texts].tolist())
        return {"seq": batch["seq"], "kind": batch["kind"], "payload": batch["payload"], "vector": vectors}


def _articles(dataset: Dataset) -> Iterator[tuple[int, Rejection | tuple[Parsed, Vectors]]]:
    """The stream's rows put back together: per file its rejection, or each article with its vectors."""
    pending: Parsed | None = None
    seq = 0
    needed = 0
    parts: list[Vectors] = []
    for batch in dataset.iter_batches(batch_format="numpy", batch_size=None):
        for i, kind in enumerate(batch["kind"].tolist()):
            if kind == _TEXT:
                if len(parts) == needed:
                    raise RuntimeError("Ray returned a vector of no article: the stream lost its order")
                parts.append(batch["vector"][i])
            else:
                if len(parts) != needed:
                    raise RuntimeError("Ray returned an article before all vectors of the one before it")
                seq = int(batch["seq"][i])
                if kind == _REJECTED:
                    yield seq, Rejection.model_validate_json(batch["payload"][i])
                    continue
                pending = Parsed.model_validate_json(batch["payload"][i])
                needed, parts = len(pending.chunks) + len(pending.sentences), []
            if pending is not None and len(parts) == needed:
                yield seq, (pending, _stack(parts))
                pending = None
    if pending is not None or len(parts) != needed:
        raise RuntimeError("Ray's stream ended inside an article: some of its vectors never came")


def _stack(parts: list[Vectors]) -> Vectors:
    """The rows' vectors as one (texts, dim) array; an article with no texts gets (0, 0)."""
    return np.stack(parts).astype(np.float32, copy=False) if parts else np.zeros((0, 0), dtype=np.float32)


class _Bar:
    """Progress: a callback hears ``(files done, files)``; the bar counts vectors received, with
    no total (the workers, not this process, find how many there are), and shows the files."""

    def __init__(self, progress: bool | Progress, files: int) -> None:
        self.callback: Progress | None = progress if callable(progress) else None
        self.files = files
        self.bar: Any = None
        if progress is True:
            from tqdm import tqdm

            self.bar = tqdm(unit="vec", desc="Embedding on Ray", dynamic_ncols=True)

    def advance(self, seq: int, vectors: int) -> None:
        """An article (or a rejection) of file ``seq`` came back, with ``vectors`` vectors."""
        if self.callback is not None:
            self.callback(seq, self.files)  # the files before this one are done
        elif self.bar is not None:
            self.bar.set_postfix_str(f"file {seq + 1} of {self.files}", refresh=False)
            self.bar.update(vectors)

    def close(self) -> None:
        if self.callback is not None:
            self.callback(self.files, self.files)
        elif self.bar is not None:
            self.bar.close()
