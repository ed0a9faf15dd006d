"""DCASE 2017 Task 4 from Google's AudioSet embedding release, without TensorFlow.

    python -m avt_np.data audioset --features features.tar.gz --out data/dcase2017_audioset

DCASE 2017 Task 4 is a subset of AudioSet, and Google publishes a 128-d embedding per second of
every AudioSet clip (research.google.com/audioset/download.html, CC BY 4.0): VGGish outputs,
PCA-whitened and quantised to 8 bits "to be compatible with the audio features provided with
YouTube-8M", stored as TFRecord files of tf.train.SequenceExample (read here by
`avt_np.data.tfrecord` and `avt_np.data.protobuf`). This converter

1. streams every `.tfrecord` of a directory, a `.tar` / `.tar.gz` (the release as downloaded,
   read in one forward pass) or a single file, record by record;
2. keeps the records of DCASE clips: the join key is (video_id, start_time_seconds) against the
   YouTube id and start time in the DCASE file name `<ytid>_<start>_<end>.wav`, in milliseconds
   (the clip table: `avt_np.data.dcase2017_task4_clips`); labels come from the DCASE lists, never
   from AudioSet's 527-class labels;
3. saves each input file's DCASE clips (still 8-bit) in a work directory beside the output, and
   notes the file as done in `done.jsonl`: a killed run, started again with the same command,
   skips every finished file (a tar is still read through, but finished members are not decoded);
4. assembles the data set (`avt_np.data.format`, audio only): train = the challenge's training
   set, validation = its "testing" set, test = its "evaluation" set (the paper's Sec. 3.1 naming),
   `frames` (10) embeddings per clip, shorter clips zero-padded with their length recorded,
   dequantised (below), and `not_found.csv` listing every DCASE clip not in the input.

Dequantisation. VGGish's post-processor (tensorflow/models research/audioset/vggish/
vggish_postprocess.py) clips the PCA'd embedding to [-2, 2], scales it by 255/4 and casts it to
uint8, which truncates: byte q stands for the interval [-2 + 4q/255, -2 + 4(q+1)/255). Choices
(`--dequantize`):

    youtube8m  x = q * 4/255 + (4/512 - 2)   YouTube-8M's `Dequantize` (google/youtube-8m,
                                             utils.py, max 2, min -2): the inverse map plus
                                             about half a bin; the default
    centered   x = (q - 128) / 128           a common shortcut, range [-1, 1)
    raw        x = q / 255                   bytes scaled to [0, 1]

Errors stay per file. A broken record header (its length fails its CRC, or runs past the end)
or a truncated file (TFRecordError) ends that file, keeping the records before it: where the next
record starts is unknown. A damaged record under an intact header (its data fails the data CRC)
is skipped alone, and the records after it are kept; its line names the byte offset and, when
the damaged data still parses, the clip (video_id and start time, unverified). A record with a
missing field, a start time that is not a finite number or an embedding that is not 128 bytes is
skipped. Each costs one line on stderr (and `errors.log` in the work directory), and every other
file is still converted. A file that cannot be read at all (an I/O error, a tar archive cut
short) is not marked done, so the next run reads it again.
"""

import csv
import io
import json
import math
import sys
import tarfile
import time
import zlib
from collections import namedtuple
from pathlib import Path

import numpy as np

import avt_np
from avt_np import cli
from avt_np.data import dcase2017
from avt_np.data import dcase2017_task4_clips as clip_table
from avt_np.data import protobuf as pb
from avt_np.data.format import SPLITS, DataError
from avt_np.data.tfrecord import TFRecordError, read_records
from avt_np.data.writer import DatasetWriter
from avt_np.io import settings_changed, write_npz, write_text
from avt_np.progress import Progress

EMBEDDING_BYTES = 128
WORK_VERSION = 1
DEQUANTIZE = {
    "youtube8m": (4 / 255, 4 / 512 - 2),     # x = q * scale + offset
    "centered": (1 / 128, -1.0),
    "raw": (1 / 255, 0.0),
}
ARCHIVE_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError)


class RecordError(ValueError):
    """A well-framed record whose content is not an AudioSet clip (missing or malformed field)."""


def dequantize(q, method="youtube8m"):
    """uint8 embeddings (...) -> float32 (...), see the module docstring."""
    scale, offset = DEQUANTIZE[method]
    return q.astype(np.float32) * np.float32(scale) + np.float32(offset)


# -- the clip table as arrays ----------------------------------------------------------------
class ClipTable:
    """The DCASE clips: index by (ytid, start ms), split, labels (N, C) uint8, clip ids."""

    def __init__(self, path=clip_table.CLIPS_FILE):
        self.classes, clips = clip_table.load(path)
        self.index = {(c.ytid, c.start): i for i, c in enumerate(clips)}
        self.clip_ids = [c.clip_id for c in clips]
        self.split = np.array([SPLITS.index(c.split) for c in clips], np.int8)
        self.labels = np.zeros((len(clips), len(self.classes)), np.uint8)
        for i, c in enumerate(clips):
            self.labels[i, list(c.labels)] = 1
        self.sizes = {s: int((self.split == k).sum()) for k, s in enumerate(SPLITS)}

    def __len__(self):
        return len(self.clip_ids)


# -- one record, one file ---------------------------------------------------------------------
def clip_key(context):
    """Context features -> (YouTube id, start in ms); RecordError when a field is missing."""
    vid, start = context.get("video_id"), context.get("start_time_seconds")
    if vid is None or vid.kind != "bytes" or len(vid.values) != 1:
        raise RecordError("missing context feature 'video_id' (one bytes value expected)")
    if start is None or start.kind != "float" or len(start.values) != 1:
        raise RecordError("missing context feature 'start_time_seconds' (one float expected)")
    try:
        ytid = vid.values[0].decode("ascii")
    except UnicodeDecodeError:
        raise RecordError(f"video_id {vid.values[0][:20]!r} is not ASCII") from None
    if not math.isfinite(start.values[0]):
        raise RecordError(f"start_time_seconds is {start.values[0]}, expected a finite number")
    return ytid, int(round(start.values[0] * 1000))


def clip_embeddings(payload, frames):
    """A record's audio_embedding -> (uint8 (frames, 128) zero-padded, real frames, frames cut)."""
    _, lists = pb.decode_sequence_example(payload, lists=("audio_embedding",))
    features = lists.get("audio_embedding")
    if features is None:
        raise RecordError("missing feature list 'audio_embedding'")
    if not features:
        raise RecordError("feature list 'audio_embedding' is empty")
    rows = np.zeros((frames, EMBEDDING_BYTES), np.uint8)
    for t, feature in enumerate(features):
        if feature.kind != "bytes" or len(feature.values) != 1:
            raise RecordError(f"audio_embedding frame {t}: expected one bytes value, got "
                              f"{len(feature.values)} {feature.kind} value(s)")
        value = feature.values[0]
        if len(value) != EMBEDDING_BYTES:
            raise RecordError(f"audio_embedding frame {t} has {len(value)} bytes, expected "
                              f"{EMBEDDING_BYTES}")
        if t < frames:
            rows[t] = np.frombuffer(value, np.uint8)
    return rows, min(len(features), frames), max(len(features) - frames, 0)


def damaged_clip(payload):
    """(YouTube id, start in ms) read from a damaged record's unverified data, or None."""
    try:
        return clip_key(pb.decode_sequence_example(payload, lists=())[0])
    except (pb.ProtobufError, RecordError):
        return None


def convert_file(f, name, table, frames, check_crc=True, size=None):
    """Read one TFRecord file of `size` bytes (None: unknown) -> (arrays for the DCASE clips in
    it, summary dict, problems).

    arrays: {"clips": (n,) int32 table indices, "embeddings": (n, frames, 128) uint8,
    "lengths": (n,) int16}. summary: counts ("records" read, "bad_records" unusable,
    "damaged_records" skipped for a data CRC mismatch, listed with offset and clip in "damaged"),
    "failed_clips" {DCASE clip id: reason}, the file's "error" and "problems": one-line messages
    in file order, the file's framing error (if any) last.
    """
    clips, rows, lengths, problems, failed, damaged = [], [], [], [], {}, []
    records = bad_records = cut = 0
    first_bad = error = retry = None

    def skip_damaged(e):                       # read_records goes on after the damaged record
        key = damaged_clip(e.payload)
        damaged.append({"offset": e.offset, "video_id": key and key[0],
                        "start_time_seconds": key and key[1] / 1000})
        if key is None:
            problems.append(f"{e} (record skipped; no clip id can be read from it)")
            return
        problems.append(f"{e} (record skipped; clip {key[0]} at {key[1] / 1000:.3f} s, as read "
                        "from the damaged data)")
        i = table.index.get(key)
        if i is not None:
            failed[table.clip_ids[i]] = f"damaged record (data CRC mismatch at byte {e.offset})"

    try:
        for offset, payload in read_records(f, name, check_crc=check_crc, size=size,
                                            on_damaged=skip_damaged):
            records += 1
            i = None
            try:
                context, _ = pb.decode_sequence_example(payload, lists=())
                i = table.index.get(clip_key(context))
                if i is None:
                    continue
                emb, n, extra = clip_embeddings(payload, frames)
            except (pb.ProtobufError, RecordError) as e:
                bad_records += 1
                if first_bad is None:
                    first_bad = len(problems)
                    problems.append(f"{name}: byte {offset}: {e} (record skipped)")
                if i is not None:
                    failed[table.clip_ids[i]] = str(e)
                continue
            clips.append(i)
            rows.append(emb)
            lengths.append(n)
            cut += extra > 0
    except TFRecordError as e:
        error = str(e)
    except ARCHIVE_ERRORS as e:       # a tar member cut short, a disk error: not the file's fault
        retry = f"{name}: read error ({type(e).__name__}: {e}); not saved, read again next run"
    if bad_records > 1:
        problems[first_bad] += f"; {bad_records - 1} more bad record(s) in this file"
    if error:
        problems.append(error + f" (file ends here; {records} record(s) before it kept"
                        + (f", {len(damaged)} damaged one(s) skipped)" if damaged else ")"))
    if retry:
        problems.append(retry)
    arrays = {"clips": np.array(clips, np.int32),
              "embeddings": np.array(rows, np.uint8).reshape(-1, frames, EMBEDDING_BYTES),
              "lengths": np.array(lengths, np.int16)}
    summary = {"records": records, "clips": len(clips), "bad_records": bad_records,
               "damaged_records": len(damaged), "damaged": damaged, "clips_cut": cut,
               "failed_clips": failed, "error": error, "retry": bool(retry),
               "problems": problems}
    return arrays, summary


# -- inputs -----------------------------------------------------------------------------------
Source = namedtuple("Source", "name size mtime open")     # open() -> readable binary file


def is_archive(path):
    return path.is_file() and (path.name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2"))
                               or (not path.name.endswith(".tfrecord")
                                   and tarfile.is_tarfile(path)))


class Inputs:
    """The .tfrecord files under a directory, in a tar archive (streamed), or one file.

    Iterating yields Source tuples; `position()` and `total` (bytes) drive the progress line;
    `error` holds an archive-level failure (a truncated or corrupt .tar.gz) after iteration.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.error = None
        if not self.path.exists():
            raise DataError(f"{self.path}: no such file or directory (expected the AudioSet "
                            "features folder, features.tar.gz or a .tfrecord file)")
        if self.path.is_dir():
            self.files = sorted(p for p in self.path.rglob("*.tfrecord") if p.is_file())
            if not self.files:
                raise DataError(f"{self.path}: no .tfrecord files below this folder")
            self.total = sum(p.stat().st_size for p in self.files)
        elif is_archive(self.path):
            self.files, self.total = None, self.path.stat().st_size
        else:
            self.files, self.total = [self.path], self.path.stat().st_size
        self.done_bytes = 0
        self.raw = None

    def position(self):
        return self.raw.tell() if self.raw is not None else self.done_bytes

    def __iter__(self):
        if self.files is not None:
            for p in self.files:
                st = p.stat()
                name = p.relative_to(self.path).as_posix() if p != self.path else p.name
                yield Source(name, st.st_size, int(st.st_mtime), lambda p=p: open(p, "rb"))
                self.done_bytes += st.st_size
            return
        with open(self.path, "rb") as raw:
            self.raw = raw
            try:
                with tarfile.open(fileobj=raw, mode="r|*") as tar:
                    for member in tar:
                        if member.isfile() and member.name.endswith(".tfrecord"):
                            yield Source(member.name, member.size, int(member.mtime),
                                         lambda m=member: tar.extractfile(m))
            except ARCHIVE_ERRORS as e:
                self.error = (f"{self.path}: archive unreadable at byte {raw.tell()} "
                              f"({type(e).__name__}: {e}); the files after that point are "
                              "missing (a truncated download? fetch it again and rerun)")
            finally:
                self.raw = None
                self.done_bytes = self.total


# -- the work directory -----------------------------------------------------------------------
class WorkDir:
    """Per-input-file results: parts/<name>.npz (DCASE clips, 8-bit) + one done.jsonl line each.

    A part is written atomically before its line is appended, so a kill at any moment leaves
    every listed file complete; an unlisted file is simply converted again.
    """

    def __init__(self, path, settings):
        self.path = Path(path)
        self.parts = self.path / "parts"
        self.parts.mkdir(parents=True, exist_ok=True)
        self.log = self.path / "done.jsonl"
        self.errors = self.path / "errors.log"
        changed = settings_changed(self.path / "settings.json", settings)
        if changed:
            raise DataError(f"{self.path}: work directory made with other settings "
                            f"({', '.join(changed)}); delete it or pass another --work-dir")
        self.done = {}
        if self.log.exists():
            for line in self.log.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue                        # a line cut by a kill: that file is redone
                if ("damaged_records" not in entry
                        and "data CRC mismatch" in (entry.get("error") or "")):
                    self.done.pop(entry["name"], None)   # an older version stopped at a damaged
                    continue                             # record: convert the file again
                if entry.get("part") is None or (self.path / entry["part"]).exists():
                    self.done[entry["name"]] = entry

    def is_done(self, source):
        entry = self.done.get(source.name)
        return entry is not None and (entry["size"], entry["mtime"]) == (source.size, source.mtime)

    def save(self, source, arrays, summary, splits):
        part = None
        if summary["clips"]:
            part = f"parts/{source.name.replace('/', '__')}.npz"
            write_npz(self.path / part, arrays)
        entry = dict(name=source.name, size=source.size, mtime=source.mtime, part=part,
                     splits=splits, **summary)
        with open(self.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
        self.done[source.name] = entry

    def log_problems(self, lines):
        with open(self.errors, "a", encoding="utf-8") as f:
            for line in lines:
                f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')}\t{line}\n")


def scan(inputs, work, table, frames, check_crc=True, progress=True):
    """Convert every input file not already done -> (converted, skipped, unread): counts of
    files. An unread file (I/O error, archive cut short) is not marked done, so the next run
    reads it again; a file whose content is damaged is done, with its error recorded."""
    bar = Progress(max(1, round(inputs.total / 1e6)), "audioset: MB read") if progress else None
    converted = skipped = unread = 0
    found = sum(e["clips"] for e in work.done.values())
    for source in inputs:
        if work.is_done(source):
            skipped += 1
        else:
            try:
                with source.open() as f:
                    arrays, summary = convert_file(f, source.name, table, frames, check_crc,
                                                   size=source.size)
            except ARCHIVE_ERRORS as e:              # could not even open it
                arrays, summary = None, {"retry": True, "clips": 0, "problems": [
                    f"{source.name}: cannot open ({type(e).__name__}: {e}); read again next run"]}
            for line in summary["problems"]:
                print(f"error: {line}", file=sys.stderr)
            work.log_problems(summary["problems"])
            if summary["retry"]:
                unread += 1
                continue
            codes = table.split[arrays["clips"]]
            work.save(source, arrays, summary,
                      {s: int((codes == k).sum()) for k, s in enumerate(SPLITS)})
            converted += 1
            found += summary["clips"]
        if bar:
            bar.update(min(bar.total - 1, round(inputs.position() / 1e6)),   # total: at the end
                       f"({converted + skipped} files, {converted} converted now, "
                       f"{found} DCASE clips found)")
    if bar:
        bar.update(bar.total, f"({converted + skipped} files, {converted} converted now, "
                              f"{found} DCASE clips found)")
    if inputs.error:
        print(f"error: {inputs.error}", file=sys.stderr)
        work.log_problems([inputs.error])
    return converted, skipped, unread


# -- assembling the data set ------------------------------------------------------------------
def assemble(out, work, table, frames, method="youtube8m", dtype="float16", provenance=None,
             overwrite=False):
    """Write the data set from the work directory's parts, one part at a time.

    Returns {"found": {split: n}, "not_found": {split: n}, "duplicates": n}.
    """
    entries = sorted(work.done.values(), key=lambda e: e["name"])
    found = np.zeros(len(table), bool)
    failed = {}
    for e in entries:
        failed.update(e["failed_clips"])
    duplicates = 0
    provenance = dict(provenance or {})
    with DatasetWriter(out, table.classes, dims={"audio": EMBEDDING_BYTES}, frames=frames,
                       dtype=dtype, provenance=provenance, overwrite=overwrite) as writer:
        for e in entries:
            if not e["part"]:
                continue
            with np.load(work.path / e["part"], allow_pickle=False) as part:
                idx, q, lengths = part["clips"], part["embeddings"], part["lengths"]
            keep = ~found[idx]
            _, first = np.unique(idx, return_index=True)      # a clip twice in one file
            keep &= np.isin(np.arange(len(idx)), first)
            duplicates += int((~keep).sum())
            found[idx[keep]] = True
            audio = dequantize(q, method)
            audio[np.arange(frames)[None, :] >= lengths[:, None]] = 0     # padding stays zero
            for k, split in enumerate(SPLITS):
                sel = keep & (table.split[idx] == k)
                if sel.any():
                    writer.append(split, audio=audio[sel], labels=table.labels[idx[sel]],
                                  clip_ids=[table.clip_ids[i] for i in idx[sel]],
                                  lengths=lengths[sel])
        for k, split in enumerate(SPLITS):
            if split != "train":                  # the organisers' strong labels, for SED
                strong = dcase2017.strong_events(split)
                writer.add_events(split, [
                    (table.clip_ids[i], onset, offset, label)
                    for i in np.flatnonzero(found & (table.split == k))
                    for onset, offset, label in strong.get(table.clip_ids[i], ())])
        missing = np.flatnonzero(~found)
        text = io.StringIO()
        rows = csv.writer(text, lineterminator="\n")
        rows.writerow(["split", "clip_id", "reason"])
        rows.writerows([SPLITS[table.split[i]], table.clip_ids[i],
                        failed.get(table.clip_ids[i], "not in the input files")] for i in missing)
        report = {
            "found": {s: int((found & (table.split == k)).sum()) for k, s in enumerate(SPLITS)},
            "not_found": {s: int((~found & (table.split == k)).sum())
                          for k, s in enumerate(SPLITS)},
            "duplicates": duplicates}
        writer.provenance.update(report)
        write_text(Path(writer.tmp) / "not_found.csv", text.getvalue())
    return report


# -- command line -----------------------------------------------------------------------------
def add_arguments(parser):
    """The `audioset` subcommand's flags (also used by this module's own parser)."""
    parser.add_argument("--features", required=True, metavar="DIR_OR_TAR",
                        help="the AudioSet embedding release: features.tar.gz as downloaded "
                             "(streamed), the extracted folder (every *.tfrecord below it), or "
                             "one .tfrecord file")
    parser.add_argument("--out", required=True, metavar="DATA_DIR",
                        help="the data set directory to write (appears only when complete)")
    parser.add_argument("--work-dir", metavar="DIR",
                        help="per-input-file results, kept for resuming "
                             "[default: DATA_DIR.work beside the output]")
    parser.add_argument("--dequantize", choices=sorted(DEQUANTIZE), default="youtube8m",
                        help="8-bit -> float: youtube8m q*4/255 + 4/512 - 2 (YouTube-8M's "
                             "Dequantize, inverse of VGGish's quantiser), centered (q-128)/128, "
                             "raw q/255 [default: youtube8m]")
    parser.add_argument("--frames", type=int, default=10,
                        help="frames per clip, 0.96 s each; shorter clips are zero-padded "
                             "(Sec. 3.2.1) [default: 10]")
    parser.add_argument("--dtype", choices=("float16", "float32"), default="float16",
                        help="stored precision; float16 keeps every 8-bit level distinct "
                             "[default: float16]")
    parser.add_argument("--no-crc", action="store_true",
                        help="skip the TFRecord CRC32C checks (faster; corrupt data goes "
                             "unnoticed) [default: checks on]")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing DATA_DIR")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    return parser


def run(args):
    """Run the converter for parsed `args`; bad input raises DataError (one line). Returns 0."""
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise DataError(f"{out}: already exists (pass --overwrite to replace it)")
    if not 1 <= args.frames <= 1000:
        raise DataError(f"--frames {args.frames}: expected 1..1000")
    work_path = Path(args.work_dir) if args.work_dir else out.parent / f"{out.name}.work"
    table = ClipTable()
    inputs = Inputs(args.features)
    settings = {"version": WORK_VERSION, "frames": args.frames,
                "clip_table_bytes": clip_table.CLIPS_FILE.stat().st_size,
                "clip_table_crc32": zlib.crc32(clip_table.CLIPS_FILE.read_bytes())}
    work = WorkDir(work_path, settings)
    if work.done:
        print(f"audioset: resuming, {len(work.done)} input file(s) already done in {work.path}",
              file=sys.stderr)
    start = time.perf_counter()
    converted, skipped, unread = scan(inputs, work, table, args.frames, check_crc=not args.no_crc,
                              progress=not args.quiet)
    errors = [e for e in work.done.values()
              if e["error"] or e["bad_records"] or e.get("damaged_records")]
    damaged = sum(e.get("damaged_records", 0) for e in work.done.values())
    bad = sum(e["bad_records"] for e in work.done.values())
    scale, offset = DEQUANTIZE[args.dequantize]
    provenance = {
        "tool": "python -m avt_np.data audioset", "avt_np_version": avt_np.__version__,
        "command": " ".join(sys.argv), "source": str(Path(args.features).resolve()),
        "features": "Google AudioSet embedding release (research.google.com/audioset, "
                    "CC BY 4.0): VGGish, PCA-whitened, 8-bit",
        "labels": clip_table.NOTICE,
        "dequantize": f"{args.dequantize}: x = q * {scale!r} + {offset!r}",
        "date": time.strftime("%Y-%m-%d"), "input_files": len(work.done),
        "input_files_with_errors": len(errors), "input_files_unread": unread,
        "damaged_records_skipped": damaged, "bad_records_skipped": bad,
        "archive_error": inputs.error}
    report = assemble(out, work, table, args.frames, args.dequantize, args.dtype, provenance,
                      overwrite=args.overwrite)
    print(f"audioset: {converted} file(s) converted, {skipped} already done, "
          f"{time.perf_counter() - start:.0f} s", file=sys.stderr)
    print(f"wrote {out}: " + ", ".join(
        f"{s} {report['found'][s]}/{table.sizes[s]}" for s in SPLITS) + " DCASE clips", file=sys.stderr)
    if sum(report["not_found"].values()):
        print("audioset: not found: " + ", ".join(f"{s} {n}" for s, n in report["not_found"].items())
              + f" (listed in {out / 'not_found.csv'})", file=sys.stderr)
    if report["duplicates"]:
        print(f"audioset: {report['duplicates']} duplicate record(s) of DCASE clips ignored "
              "(the first one kept)", file=sys.stderr)
    if errors:
        print(f"audioset: {len(errors)} input file(s) had damaged records ({damaged} record(s) "
              f"skipped for a data CRC mismatch, {bad} unusable one(s) skipped; above, also in "
              f"{work.errors})", file=sys.stderr)
    if unread or inputs.error:
        print(f"audioset: {unread} input file(s) could not be read"
              + (" and the archive was cut short" if inputs.error else "")
              + ": the data set lacks them; fix the input and run again with --overwrite "
                "(files already done are not read again)", file=sys.stderr)
    return 0


def build_parser():
    parser = cli.ArgumentParser(prog="python -m avt_np.data audioset", description=__doc__)
    return add_arguments(parser)


def main(argv=None):
    """`python -m avt_np.data.audioset ...` -> exit code (avt_np.cli's conventions)."""
    return cli.main(lambda argv: run(build_parser().parse_args(argv)), argv,
                    interrupted="interrupted: finished input files are kept in the work "
                                "directory; run the same command again to continue")


if __name__ == "__main__":
    raise SystemExit(main())
