"""Sound events with onsets and offsets, and the segment-based metrics that ranked DCASE 2017
Task 4 subtask B (sound event detection), written by hand like micro-F1 in metrics.py.

    python -m avt_np.events score REFERENCE.tsv ESTIMATED.tsv [--json] [--segment 1.0]

An event is `Event(file, onset, offset, label)`: seconds within the clip `file`. The files are
the organisers' strong-label format, `file<TAB>onset<TAB>offset<TAB>label`, one event a line
(LF or CRLF). Two kinds of row mark a clip without a real event:

- `file<TAB>0<TAB>0<TAB>label`, onset = offset = 0: the organisers' "the annotator could not
  hear the AudioSet-labelled sound" (their README); kept as a zero-length event, which marks
  no segment but makes its clip and label part of the reference, as in the official scoring;
- a line with only `file`: a clip scored with no event at all. It reads as
  `Event(file, 0.0, 0.0, None)` and is written back the same way.

`segment_based` computes what the organisers' subtask B script computed with sed_eval
(Mesaros, Heittola and Virtanen, "Metrics for polyphonic sound event detection", Applied
Sciences 2016; github.com/TUT-ARG/sed_eval, SegmentBasedMetrics at time_resolution 1.0, called
once per file of the reference): every decision and where it comes from is in
docs/detection_metrics.md.
"""

import json
import math
import os
import sys
from collections import namedtuple

import numpy as np

from avt_np import cli, io
from avt_np.cli import ArgumentParser, UsageError

Event = namedtuple("Event", "file onset offset label")
Event.__doc__ = ("One sound event: `label` active from `onset` to `offset` seconds within the "
                 "clip `file`; label None: the clip has no event (a line with only the file).")

MAX_SECONDS = 86_400.0          # a day: longer "clips" are damaged numbers, not clips
SEGMENT = 1.0                   # DCASE 2017 Task 4 subtask B: sed_eval's time_resolution = 1.0 s
EVENT_FORMAT = "file<TAB>onset<TAB>offset<TAB>label, or a file alone"
TAG_FORMAT = "file<TAB>label, file<TAB>start<TAB>end<TAB>label, or a file alone"


# -- reading and writing ---------------------------------------------------------------------
def _lines(path):
    """(line number, text) of each non-blank line of `path`, CRLF or LF; UsageError naming
    FILE or FILE:LINE when the file cannot be read or a line is not UTF-8."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise UsageError(f"{path}: cannot read ({e.strerror or cli.first_line(e)})") from None
    for number, raw in enumerate(data.split(b"\n"), 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise UsageError(f"{path}:{number}: not UTF-8 text (byte 0x{raw[e.start]:02x} at "
                             f"column {e.start + 1})") from None
        text = text.rstrip("\r")
        if text.strip():
            yield number, text


def _seconds(text, what, where):
    """A time in seconds from a field: a finite number in [0, MAX_SECONDS]."""
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{where}: {what} {text!r} is not a number (expected seconds)") from None
    if not math.isfinite(value):
        raise UsageError(f"{where}: {what} is {text!r} (expected a finite number of seconds)")
    if not 0.0 <= value <= MAX_SECONDS:
        raise UsageError(f"{where}: {what} {text!r} is outside 0..{MAX_SECONDS:.0f} s "
                         f"(expected seconds within the clip)")
    return value


def _nonempty(text, what, where):
    if not text:
        raise UsageError(f"{where}: empty {what}")
    return text


def _read_events_with_lines(path):
    """[(line number, Event)] of an event file (see read_events)."""
    rows = []
    for number, text in _lines(path):
        where = f"{path}:{number}"
        fields = [f.strip() for f in text.split("\t")]
        if not rows and len(fields) == 4 and fields[1:3] == ["onset", "offset"]:
            continue                                # a header (DCASE 2018 and later write one)
        if len(fields) == 1:
            rows.append((number, Event(_nonempty(fields[0], "file name", where), 0.0, 0.0,
                                       None)))
            continue
        if len(fields) != 4:
            raise UsageError(f"{where}: {len(fields)} tab-separated fields; expected "
                             f"{EVENT_FORMAT}")
        file, onset, offset, label = fields
        onset = _seconds(onset, "onset", where)
        offset = _seconds(offset, "offset", where)
        if offset < onset:
            raise UsageError(f"{where}: offset {offset:g} s is before onset {onset:g} s")
        rows.append((number, Event(_nonempty(file, "file name", where), onset, offset,
                                   _nonempty(label, "label", where))))
    return rows


def read_events(path):
    """The events of a DCASE 2017 Task 4 strong-label file: [Event(file, onset, offset, label)].

    `file<TAB>onset<TAB>offset<TAB>label` per line (the organisers'
    groundtruth_strong_label_*.csv and subtask B submissions; LF or CRLF; blank lines and
    surrounding spaces of a field ignored; a first line `...<TAB>onset<TAB>offset<TAB>...` is a
    header). A line with only a file name is a clip with no event: Event(file, 0.0, 0.0, None).
    Bad input is a UsageError naming FILE:LINE: a field count other than 1 or 4, a time that
    is not a number, NaN, infinite, negative or over a day, offset before onset, an empty file
    name or label, bytes that are not UTF-8.
    """
    return [event for _, event in _read_events_with_lines(path)]


def read_tags(path):
    """The clip labels of a DCASE 2017 Task 4 subtask A (audio tagging) file: [(file, label)].

    Accepts `file<TAB>label`, the four columns `file<TAB>start<TAB>end<TAB>label` of the
    organisers' weak-label files (start and end are the clip's place in its YouTube video and
    are checked to be numbers, then dropped), and a line with only a file name: a clip tagged
    with nothing, read as (file, None). Bad input: UsageError naming FILE:LINE.
    """
    tags = []
    for number, text in _lines(path):
        where = f"{path}:{number}"
        fields = [f.strip() for f in text.split("\t")]
        if len(fields) == 4:
            for value, what in ((fields[1], "start"), (fields[2], "end")):
                try:
                    if not math.isfinite(float(value)):
                        raise ValueError
                except ValueError:
                    raise UsageError(f"{where}: {what} {value!r} is not a finite number "
                                     f"(expected {TAG_FORMAT})") from None
            fields = [fields[0], fields[3]]
        if len(fields) == 1:
            tags.append((_nonempty(fields[0], "file name", where), None))
        elif len(fields) == 2:
            tags.append((_nonempty(fields[0], "file name", where),
                         _nonempty(fields[1], "label", where)))
        else:
            raise UsageError(f"{where}: {len(fields)} tab-separated fields; expected "
                             f"{TAG_FORMAT}")
    return tags


def _field(text, what):
    text = str(text)
    if not text or text != text.strip() or any(c in text for c in "\t\r\n"):
        raise ValueError(f"{what} {text!r} cannot be written as a field (empty, surrounding "
                         f"spaces, a tab or a line break)")
    return text


def _time(value):
    """Seconds as the shortest decimal that reads back to the same float, so a written file
    scores exactly as the list it came from."""
    return repr(float(value))


def write_events(path, events):
    """Write events in the strong-label format read_events reads (atomically: avt_np.io).
    Times are written exactly (shortest round-trip decimal); label None gives a file alone."""
    lines = []
    for file, onset, offset, label in events:
        if label is None:
            lines.append(_field(file, "file"))
        else:
            lines.append("\t".join([_field(file, "file"), _time(onset), _time(offset),
                                    _field(label, "label")]))
    io.write_text(path, "".join(line + "\n" for line in lines))


def write_tags(path, tags):
    """Write (file, label) pairs as `file<TAB>label` lines, label None as the file alone
    (atomically: avt_np.io)."""
    lines = [_field(file, "file") if label is None
             else f"{_field(file, 'file')}\t{_field(label, 'label')}" for file, label in tags]
    io.write_text(path, "".join(line + "\n" for line in lines))


# -- segment-based metrics -------------------------------------------------------------------
class _Columns:
    """A list of events as columns: files, labels (lists), onsets, offsets (arrays); a
    ValueError names the first event whose times are impossible."""

    def __init__(self, events, name):
        events = list(events)
        self.files = [e[0] for e in events]
        self.labels = [e[3] for e in events]
        self.onset = np.array([e[1] for e in events], np.float64)       # (E,)
        self.offset = np.array([e[2] for e in events], np.float64)      # (E,)
        bad = ~(np.isfinite(self.onset) & np.isfinite(self.offset) & (self.onset >= 0)
                & (self.offset >= self.onset) & (self.offset <= MAX_SECONDS))
        if bad.any():
            raise ValueError(f"{name} event {tuple(events[int(np.argmax(bad))])}: expected "
                             f"0 <= onset <= offset <= {MAX_SECONDS:.0f} s, finite")


def _rolls(onset, offset, row0, cls, n_rows, n_classes, segment):
    """Event roll (n_rows, n_classes) bool: event k marks rows row0[k] + floor(onset/segment)
    up to row0[k] + ceil(offset/segment) - 1 of its class (sed_eval's event_list_to_event_roll);
    built as +1/-1 steps and a cumulative sum, with no loop over events or segments."""
    steps = np.zeros((n_rows + 1, n_classes), np.int64)
    first = row0 + np.floor(onset / segment).astype(np.int64)
    end = row0 + np.ceil(offset / segment).astype(np.int64)
    np.add.at(steps, (first, cls), 1)
    np.add.at(steps, (end, cls), -1)
    return np.cumsum(steps[:-1], axis=0) > 0


def _ratio(numerator, denominator):
    return numerator / denominator if denominator > 0 else math.nan


def segment_based(reference, estimated, segment=SEGMENT, labels=None):
    """Segment-based error rate, F1, precision and recall of `estimated` events against
    `reference` events, as the DCASE 2017 Task 4 subtask B evaluation (sed_eval) computed them.

    reference, estimated: iterables of (file, onset, offset, label) (Event or plain tuples).
    segment: segment length in seconds (sed_eval's time_resolution; 1.0 in DCASE 2017).
    labels: the classes scored; default the reference's labels, sorted (as the organisers'
    script); an estimated event of another label is a ValueError (sed_eval fails on it too):
    pass every class name to count such events as insertions.

    Clip by clip over the REFERENCE's files (an estimated file that is not in the reference
    is ignored and listed in "ignored_files"; a reference file with no estimate is all
    deletions): the clip's evaluated length is the larger of its reference and estimated last
    offsets, cut into ceil(length / segment) segments; an event marks segments floor(onset /
    segment) .. ceil(offset / segment) - 1 of its class. Per segment, with Nref, Nsys active
    classes and Ntp of them in both: S = min(Nref, Nsys) - Ntp, D = max(0, Nref - Nsys),
    I = max(0, Nsys - Nref). Counts are summed over all segments of all files, then
    ER = (S + D + I) / Nref, P = Ntp / Nsys, R = Ntp / Nref, F1 = 2 Ntp / (Nref + Nsys)
    (micro-average). Class-wise: ER = (FN + FP) / Nref of the class. A ratio with a zero
    denominator is NaN (sed_eval divides by Nref + 2.2e-16 instead).

    Returns {"error_rate", "substitution_rate", "deletion_rate", "insertion_rate", "f1",
    "precision", "recall", "n_reference", "n_estimated", "n_correct", "n_substitutions",
    "n_deletions", "n_insertions", "n_files", "n_segments", "segment", "ignored_files",
    "class_wise": {label: {"error_rate", "deletion_rate", "insertion_rate", "f1", "precision",
    "recall", "n_reference", "n_estimated", "n_correct", "n_deletions", "n_insertions"}},
    "class_wise_average": {the six rates and F1/P/R averaged over classes, NaNs skipped}}.
    """
    segment = float(segment)
    if not (math.isfinite(segment) and segment > 0):
        raise ValueError(f"segment {segment!r}: expected a positive number of seconds")
    ref, est = _Columns(reference, "reference"), _Columns(estimated, "estimated")
    labels = _scored_labels(ref, est, labels)
    files = sorted(set(ref.files))                          # the reference's files, as sed_eval
    ref_events, est_events = (_Scored.of(c, files, labels) for c in (ref, est))
    n_segments = _segments_per_file(len(files), ref_events, est_events, segment)
    totals, per_class = _count(ref_events, est_events, n_segments, len(labels), segment)
    result = {**_overall_scores(totals), "n_files": len(files),
              "n_segments": int(n_segments.sum()), "segment": segment,
              "ignored_files": sorted(set(est.files) - set(files)),
              "class_wise": _class_wise_scores(labels, per_class)}
    keys = ("error_rate", "deletion_rate", "insertion_rate", "f1", "precision", "recall")
    result["class_wise_average"] = {key: _nanmean([c[key] for c in result["class_wise"].values()])
                                    for key in keys}
    return result


def _scored_labels(ref, est, labels):
    """The scored classes, in order: `labels`, else the reference's, sorted; a ValueError for a
    label given twice or an event of a label not scored."""
    if labels is None:
        labels = sorted({label for label in ref.labels if label is not None})
    labels = list(labels)
    scored = set(labels)
    if len(scored) != len(labels):
        raise ValueError(f"labels {labels!r}: a label is given twice")
    for columns, name in ((ref, "reference"), (est, "estimated")):
        unknown = [label for label in columns.labels if label is not None
                   and label not in scored]
        if unknown:
            raise ValueError(f"{name} label {unknown[0]!r} is not among the scored labels "
                             f"({', '.join(map(repr, labels))})")
    return labels


class _Scored(namedtuple("_Scored", "fid cls onset offset")):
    """The events that mark something in a scored file, as arrays: file index (in the sorted
    reference files), class index (in the scored labels), onset, offset (seconds)."""

    @classmethod
    def of(cls, columns, files, labels):
        file_of = {file: i for i, file in enumerate(files)}
        class_of = {label: i for i, label in enumerate(labels)}
        keep = np.array([f in file_of and label is not None
                         for f, label in zip(columns.files, columns.labels)], bool)
        fid = np.array([file_of[f] for f, k in zip(columns.files, keep) if k], np.int64)
        label_id = np.array([class_of[label] for label, k in zip(columns.labels, keep) if k],
                            np.int64)
        return cls(fid, label_id, columns.onset[keep], columns.offset[keep])

    def in_files(self, lo, hi):
        """The events of files lo .. hi - 1."""
        inside = (self.fid >= lo) & (self.fid < hi)
        return _Scored(*(column[inside] for column in self))


def _segments_per_file(n_files, ref, est, segment):
    """(F,) segments of each file: its evaluated length is the last offset of its reference or
    estimate (sed_eval: the max of the two lists' max_offset), cut into ceil(length / segment)."""
    length = np.zeros(n_files)
    np.maximum.at(length, ref.fid, ref.offset)
    np.maximum.at(length, est.fid, est.offset)
    return np.ceil(length / segment).astype(np.int64)


def _count(ref, est, n_segments, C, segment):
    """Segment counts summed over every segment of every file, a chunk of files at a time:
    totals {Ntp, Nref, Nsys, S, D, I} and per class {Ntp, Nref, Nsys, Nfp, Nfn} (arrays (C,))."""
    totals = dict.fromkeys(["Ntp", "Nref", "Nsys", "S", "D", "I"], 0)
    per_class = {key: np.zeros(C, np.int64) for key in ("Ntp", "Nref", "Nsys", "Nfp", "Nfn")}
    for lo, hi in _file_chunks(n_segments, C):
        row0 = np.concatenate([[0], np.cumsum(n_segments[lo:hi])])       # (files in chunk + 1,)
        n_rows = int(row0[-1])
        truth, system = (_rolls(e.onset, e.offset, row0[e.fid - lo], e.cls, n_rows, C, segment)
                         for e in (ref.in_files(lo, hi), est.in_files(lo, hi)))  # (segments, C)
        n_ref, n_sys = truth.sum(1), system.sum(1)                       # (segments,)
        n_tp = (truth & system).sum(1)
        totals["Ntp"] += int(n_tp.sum())
        totals["Nref"] += int(n_ref.sum())
        totals["Nsys"] += int(n_sys.sum())
        totals["S"] += int((np.minimum(n_ref, n_sys) - n_tp).sum())
        totals["D"] += int(np.maximum(0, n_ref - n_sys).sum())
        totals["I"] += int(np.maximum(0, n_sys - n_ref).sum())
        per_class["Ntp"] += (truth & system).sum(0)
        per_class["Nref"] += truth.sum(0)
        per_class["Nsys"] += system.sum(0)
        per_class["Nfp"] += (system & ~truth).sum(0)
        per_class["Nfn"] += (truth & ~system).sum(0)
    return totals, per_class


def _overall_scores(totals):
    """The micro-averaged rates of segment_based from the summed counts."""
    n_ref, n_sys, n_tp = totals["Nref"], totals["Nsys"], totals["Ntp"]
    return {
        "error_rate": _ratio(totals["S"] + totals["D"] + totals["I"], n_ref),
        "substitution_rate": _ratio(totals["S"], n_ref),
        "deletion_rate": _ratio(totals["D"], n_ref),
        "insertion_rate": _ratio(totals["I"], n_ref),
        "f1": _ratio(2 * n_tp, n_ref + n_sys),
        "precision": _ratio(n_tp, n_sys),
        "recall": _ratio(n_tp, n_ref),
        "n_reference": n_ref, "n_estimated": n_sys, "n_correct": n_tp,
        "n_substitutions": totals["S"], "n_deletions": totals["D"],
        "n_insertions": totals["I"],
    }


def _class_wise_scores(labels, per_class):
    """{label: rates and counts of that class}; its ER = (FN + FP) / Nref."""
    scores = {}
    for i, label in enumerate(labels):
        tp, nr, ns, fp, fn = (int(per_class[k][i]) for k in ("Ntp", "Nref", "Nsys", "Nfp", "Nfn"))
        scores[label] = {
            "error_rate": _ratio(fn + fp, nr), "deletion_rate": _ratio(fn, nr),
            "insertion_rate": _ratio(fp, nr), "f1": _ratio(2 * tp, nr + ns),
            "precision": _ratio(tp, ns), "recall": _ratio(tp, nr),
            "n_reference": nr, "n_estimated": ns, "n_correct": tp,
            "n_deletions": fn, "n_insertions": fp,
        }
    return scores


def _nanmean(values):
    values = [v for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan


def _file_chunks(n_segments, n_classes, max_cells=1 << 22):
    """[lo, hi) ranges of files whose rolls together stay under max_cells booleans: one range
    for any real test set; damaged files (a day-long clip) cost time, not memory."""
    per_file = n_segments * max(n_classes, 1)
    lo, cells = 0, 0
    for i, n in enumerate(per_file.tolist()):
        if i > lo and cells + n > max_cells:
            yield lo, i
            lo, cells = i, 0
        cells += n
    yield lo, len(per_file)


# -- the command line ------------------------------------------------------------------------
def json_safe(value):
    """NaN (an undefined ratio) as None, so the JSON is valid (json.dumps writes NaN otherwise)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _number(value, percent=False):
    if math.isnan(value):
        return "n/a"
    return f"{100 * value:.1f} %" if percent else f"{value:.3f}"


def format_table(result):
    """The scores as a readable table: overall (micro-average), then one row per class."""
    r = result
    lines = [
        f"segment-based metrics: {r['n_files']} files, {r['n_segments']} segments of "
        f"{r['segment']:g} s (DCASE 2017 Task 4 subtask B; sed_eval's SegmentBasedMetrics)",
        f"  error rate  {_number(r['error_rate'])}   (substitutions "
        f"{_number(r['substitution_rate'])}, deletions {_number(r['deletion_rate'])}, "
        f"insertions {_number(r['insertion_rate'])})",
        f"  F1          {_number(r['f1'], True)}   (precision {_number(r['precision'], True)}, "
        f"recall {_number(r['recall'], True)})",
        f"  active class-segments: reference {r['n_reference']}, estimated {r['n_estimated']}, "
        f"both {r['n_correct']}",
        "",
        f"  {'class':32s} {'Nref':>6s} {'Nsys':>6s} {'F1':>8s} {'P':>8s} {'R':>8s} "
        f"{'ER':>7s} {'Del':>7s} {'Ins':>7s}",
    ]
    for label, c in r["class_wise"].items():
        lines.append(f"  {label[:32]:32s} {c['n_reference']:6d} {c['n_estimated']:6d} "
                     f"{_number(c['f1'], True):>8s} {_number(c['precision'], True):>8s} "
                     f"{_number(c['recall'], True):>8s} {_number(c['error_rate']):>7s} "
                     f"{_number(c['deletion_rate']):>7s} {_number(c['insertion_rate']):>7s}")
    a = r["class_wise_average"]
    lines.append(f"  {'(class-wise average)':32s} {'':6s} {'':6s} {_number(a['f1'], True):>8s} "
                 f"{_number(a['precision'], True):>8s} {_number(a['recall'], True):>8s} "
                 f"{_number(a['error_rate']):>7s} {_number(a['deletion_rate']):>7s} "
                 f"{_number(a['insertion_rate']):>7s}")
    return "\n".join(lines)


def score(reference_path, estimated_path, segment=SEGMENT):
    """segment_based of two event files; UsageError (FILE:LINE) for bad input, including an
    estimated label the reference does not have."""
    reference = read_events(reference_path)
    if not reference:
        raise UsageError(f"{reference_path}: no rows (expected {EVENT_FORMAT}): nothing to "
                         f"score against")
    estimated = _read_events_with_lines(estimated_path)
    labels = sorted({e.label for e in reference if e.label is not None})
    known = set(labels)
    for number, event in estimated:
        if event.label is not None and event.label not in known:
            some = ", ".join(map(repr, labels[:4])) + (", ..." if len(labels) > 4 else "")
            raise UsageError(f"{estimated_path}:{number}: label {event.label!r} is not a label "
                             f"of the reference {reference_path} (it has {len(labels)}: {some})")
    return segment_based(reference, [e for _, e in estimated], segment, labels)


def run(argv=None):
    parser = ArgumentParser(prog="python -m avt_np.events", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    scorer = commands.add_parser(
        "score", help="segment-based ER / F1 of ESTIMATED against REFERENCE",
        description="Score a DCASE 2017 Task 4 subtask B submission (file<TAB>onset<TAB>"
                    "offset<TAB>label) against a strong-label reference, as the organisers' "
                    "sed_eval evaluation did (docs/detection_metrics.md).")
    scorer.add_argument("reference", help="strong labels, e.g. the organisers' "
                                          "groundtruth_strong_label_evaluation_set.csv")
    scorer.add_argument("estimated", help="the events to score, same format")
    scorer.add_argument("--json", action="store_true",
                        help='print {"segment_based": {...}} as JSON (undefined ratios: null) '
                             "instead of a table")
    scorer.add_argument("--segment", type=float, default=SEGMENT,
                        help="segment length in seconds (default 1.0, as DCASE 2017 Task 4)")
    args = parser.parse_args(argv)
    if not (math.isfinite(args.segment) and 0 < args.segment <= MAX_SECONDS):
        raise UsageError(f"--segment {args.segment:g}: expected a positive number of seconds")
    result = score(args.reference, args.estimated, args.segment)
    if result["ignored_files"]:
        print(f"note: {len(result['ignored_files'])} estimated files are not in the reference "
              f"and were not scored (as in the DCASE 2017 evaluation), e.g. "
              f"{result['ignored_files'][0]!r}", file=sys.stderr)
    if args.json:
        print(json.dumps({"segment_based": json_safe(result)}, indent=1, allow_nan=False))
    else:
        print(format_table(result))


def main(argv=None):
    try:
        return cli.main(run, argv, interrupted="interrupted: nothing was written")
    except BrokenPipeError:                 # the reader stopped early (`... | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # no flush error at exit
        return cli.OK


if __name__ == "__main__":
    raise SystemExit(main())
