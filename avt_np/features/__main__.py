"""python -m avt_np.features: turn audio/video clips and DCASE labels into a data set.

    python -m avt_np.weights fetch
    python -m avt_np.features --clips videos/ --labels train=train.csv \\
        --labels validation=valid.csv --labels test=test.csv --out data/mine
    python -m avt_np.train --data data/mine

Sec. 3.2.1 of the paper: VGGish embeddings (128-d) of 0.96 s log-mel windows and VGG16 fc7
(4096-d) of the video frame at each window's centre; for the --log-mel splits (default
validation and test) also the log-mel examples VGGish saw, for python -m avt_np.visualize's
spectrogram thumbnails. Progress and skipped clips go to stderr; the run can be stopped and
started again with the same command (finished clips are kept in the work directory). Every
split (train, validation, test) must get at least one clip, as python -m avt_np.train needs
all three. Errors that concern the whole run are one line with exit code 2.
"""

import shlex
import sys
import time
from pathlib import Path

import avt_np
from avt_np import cli, dask_client
from avt_np.cli import ArgumentParser, UsageError
from avt_np.features import extract
from avt_np.features import cluster
from avt_np.features.labels import (DCASE2017_CLASSES, SPLITS, parse_labels_arg, read_classes,
                                    read_weak_labels)
from avt_np.features.video import have_ffmpeg
from avt_np.features.vgg16_graph import FC7
from avt_np.weights import cached_sha256, weight_path, weights_differ


def build_parser():
    p = ArgumentParser(prog="python -m avt_np.features", description=__doc__)
    p.add_argument("--clips", required=True, metavar="DIR_OR_LIST",
                   help="folder of clip files, or a text file listing them (one path a line); "
                        "files sharing a stem form one clip (e.g. abc.wav + abc.mp4)")
    p.add_argument("--labels", required=True, action="append", metavar="[SPLIT=]CSV",
                   help="DCASE weak-label CSV (file<TAB>start<TAB>end<TAB>label); repeat for "
                        "several splits; SPLIT is train, validation or test, by default taken "
                        "from DCASE's file name (training/testing/evaluation), else train")
    p.add_argument("--out", required=True, metavar="DATA_DIR",
                   help="data set folder to write (read by python -m avt_np.train --data)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace DATA_DIR if it exists (default: refuse)")
    p.add_argument("--audio-only", action="store_true",
                   help="no video features (default: audio and video)")
    p.add_argument("--frames-dir", metavar="DIR",
                   help="read frames from DIR/<clip id>/<seconds>.jpg instead of decoding video "
                        "with ffmpeg; name images by the window centres 0.48 + 0.96 k s "
                        "(0.48.jpg, 1.44.jpg, ...): each centre takes the latest image at or "
                        "before it, if less than 0.96 s older; a clip with none at 0.48 s is "
                        "skipped")
    p.add_argument("--frames", type=int, default=10,
                   help="frames (0.96 s windows) per clip; longer clips are cut, shorter ones "
                        "padded and marked in valid (default: 10, Sec. 3.2.1 on 10 s clips)")
    p.add_argument("--vggish", default=None, metavar="ONNX",
                   help=f"VGGish ONNX file (default: {weight_path('vggish')})")
    p.add_argument("--vgg16", default=None, metavar="ONNX",
                   help=f"VGG16 ONNX file with fc7 as an output (default: {weight_path('vgg16_fc7')})")
    p.add_argument("--vgg16-output", default=FC7,
                   help=f"name of the fc7 output in the VGG16 file (default: {FC7})")
    p.add_argument("--vgg16-preprocess", choices=["gluon", "caffe"], default="gluon",
                   help="gluon: RGB [0,1] with ImageNet mean/std, for the ONNX zoo's vgg16-7; "
                        "caffe: BGR minus mean pixel, for Caffe/Keras weights (default: gluon)")
    p.add_argument("--pca", nargs="?", const="vggish_pca", default=None, metavar="NPZ",
                   help="apply AudioSet's PCA + 8-bit postprocessing with Google's "
                        f"vggish_pca_params.npz (default file: {weight_path('vggish_pca')}); "
                        "off by default")
    p.add_argument("--dequantize", choices=["yt8m", "centered", "unit"], default="yt8m",
                   help="how --pca's uint8 values are stored as floats (default: yt8m, "
                        "q*4/255 + 4/512 - 2)")
    p.add_argument("--classes", metavar="FILE",
                   help="class names, one a line or DCASE's sound_event_list_17_classes.txt "
                        "(default: the 17 DCASE 2017 Task 4 classes in canonical order)")
    p.add_argument("--work-dir", metavar="DIR",
                   help="per-clip cache that makes the run resumable (default: DATA_DIR.work)")
    p.add_argument("--dtype", choices=["float16", "float32"], default="float16",
                   help="storage type of the features (default: float16)")
    p.add_argument("--threads", type=int, default=None,
                   help="onnxruntime threads per model (default: one per core)")
    p.add_argument("--batch", type=int, default=extract.DEFAULT_BATCH,
                   help="video frames / audio examples per onnxruntime call: the frames of "
                        "batch // frames clips go through VGG16 together (default: "
                        f"{extract.DEFAULT_BATCH}, chosen with python -m avt_np.features.bench "
                        "--networks; docs/features.md). The features do not depend on it")
    p.add_argument("--prefetch", type=int, default=extract.DEFAULT_PREFETCH,
                   help="threads decoding the next clips (ffmpeg, log-mel) while the networks "
                        f"run; 0: no overlap (default: {extract.DEFAULT_PREFETCH})")
    p.add_argument("--dask", metavar="tcp://HOST:PORT",
                   help="extract on a Dask distributed cluster (optional: pip install -r "
                        "requirements-scaleout.txt): groups of clips go to the workers, which "
                        "write finished clips into the work dir, so the clips, weights and "
                        "work dir must be at the same paths on every worker (a shared file "
                        "system); the data set is written here at the end. Start workers with "
                        "--nthreads 1 (default: extract on this machine)")
    p.add_argument("--group", type=int, default=None,
                   help="--dask: clips per task; a worker lost mid-task loses only that "
                        "task's unfinished clips, which another worker redoes (default: "
                        "4 x --batch // --frames clips, at least 8)")
    p.add_argument("--log-mel", default="validation,test", metavar="SPLITS",
                   help="splits whose VGGish log-mel examples are stored too (log_mel.npy, for "
                        "python -m avt_np.visualize's spectrogram thumbnails): a comma list of "
                        "train, validation, test, or none. 10 x 96 x 64 float16 = 123 kB a "
                        "clip: ~195 MB for DCASE's 1,591 validation + test clips, ~6.3 GB for "
                        "its 51,172 training clips (default: validation,test)")
    return p


def parse_log_mel(text):
    """--log-mel 'validation,test' -> ('validation', 'test'); 'none' -> ()."""
    if text.strip() == "none":
        return ()
    names = tuple(n.strip() for n in text.split(","))
    if not names or any(n not in SPLITS for n in names):
        raise UsageError(f"--log-mel {text}: expected a comma list of {', '.join(SPLITS)}, "
                         "or none")
    return names


def require_every_split(matched, label_files, clips):
    """python -m avt_np.train needs train, validation and test: refuse, before any extraction,
    a run that would write a data set with an empty split. label_files: {split: [--labels
    text]}; clips: the --clips value (for the message)."""
    for split in SPLITS:
        if any(s == split for _, s, _ in matched):
            continue
        if label_files.get(split):
            raise UsageError(f"the {split} split has no clip: no file in --clips {clips} "
                             f"matches a clip of --labels {label_files[split][0]}")
        raise UsageError(f"the {split} split has no clip: pass --labels {split}=CSV "
                         "(python -m avt_np.train needs train, validation and test)")


def run(args, argv=None):
    if args.frames < 1:
        raise UsageError(f"--frames must be at least 1, got {args.frames}")
    for flag, value, least in (("--batch", args.batch, 1), ("--prefetch", args.prefetch, 0),
                               ("--group", args.group, 1)):
        if value is not None and value < least:
            raise UsageError(f"{flag} must be at least {least}, got {value}")
    if not args.dask:
        return extract_here_or_there(args, argv, None)
    client = dask_client.connect(args.dask)           # before any work: a bad address is quick
    try:
        return extract_here_or_there(args, argv, client)
    finally:
        client.close()


def extract_here_or_there(args, argv, client):
    """The run on this machine (client None) or on the Dask cluster of `client`."""
    log_mel_splits = parse_log_mel(args.log_mel)
    if Path(args.out).exists() and not args.overwrite:
        raise UsageError(f"--out {args.out} already exists; pass --overwrite to replace it")
    if args.classes and not Path(args.classes).is_file():
        raise FileNotFoundError(f"--classes {args.classes}: no such file")
    classes = read_classes(args.classes) if args.classes else DCASE2017_CLASSES
    labels_by_split, label_files = {}, {}
    for text in args.labels:
        split, path = parse_labels_arg(text)
        if not path.is_file():
            raise FileNotFoundError(f"--labels {text}: no such file")
        table = read_weak_labels(path, classes)
        print(f"labels: {path} -> {split} ({extract.plural(len(table), 'clip')})",
              file=sys.stderr)
        labels_by_split.setdefault(split, {}).update(table)
        label_files.setdefault(split, []).append(text)
    clips = extract.discover_clips(args.clips)
    if not clips:
        raise UsageError(f"--clips {args.clips}: no audio or video file found")
    matched, unlabelled = extract.match_labels(clips, labels_by_split)
    if unlabelled:
        print(f"labels: {extract.plural(len(unlabelled), 'clip')} without a label row "
              f"skipped (e.g. {unlabelled[0].clip_id})", file=sys.stderr)
    no_file = extract.labelled_without_file(matched, labels_by_split)
    if no_file:
        print(f"labels: {extract.plural(len(no_file), 'labelled clip')} with no file in "
              f"--clips {args.clips} (e.g. {no_file[0][1]}); listed in "
              f"{Path(args.out) / 'not_found.csv'}", file=sys.stderr)
    if not matched:
        raise UsageError("no clip file matches a labelled clip id (file name without extension)")
    require_every_split(matched, label_files, args.clips)
    with_video = not args.audio_only
    needs_ffmpeg = any(c.audio is None for c, _, _ in matched) or (with_video and not args.frames_dir)
    if needs_ffmpeg and not have_ffmpeg():
        raise UsageError("the ffmpeg command is needed to decode these clips but is not "
                           "installed (apt-get install -y ffmpeg); or pass --audio-only with "
                           ".wav files, or --frames-dir")

    from avt_np.features.vgg16 import VGG16                # imported here: onnxruntime, slow
    from avt_np.features.vggish import PCAQuantizer, VGGish  # to load: --help needs neither
    vggish = VGGish(args.vggish or "vggish", threads=args.threads)
    vgg16 = VGG16(args.vgg16 or "vgg16_fc7", output=args.vgg16_output,
                  style=args.vgg16_preprocess, threads=args.threads) if with_video else None
    pca = PCAQuantizer(args.pca) if args.pca else None

    models = {"vggish": str(vggish.path), "vggish_sha256": cached_sha256(vggish.path)}
    if vgg16 is not None:
        models.update(vgg16=str(vgg16.path), vgg16_sha256=cached_sha256(vgg16.path),
                      vgg16_output=vgg16.output_name, vgg16_preprocess=vgg16.style)
    if pca is not None:
        models.update(pca=str(args.pca), dequantize=args.dequantize)
    settings = dict(models, frames=args.frames, audio_only=args.audio_only,
                    frames_dir=str(args.frames_dir) if args.frames_dir else None,
                    classes=list(classes))
    work_dir = args.work_dir or f"{str(args.out).rstrip('/')}.work"
    for line in weights_differ(Path(work_dir) / "settings.json", made=f"work dir {work_dir}",
                               paths={"vggish": vggish.path, "vgg16": vgg16 and vgg16.path}):
        print(f"warning: {line}", file=sys.stderr)          # resuming with other weights
    work = extract.WorkDir(work_dir, settings)

    started = time.time()
    if client is None:
        extractor = extract.Extractor(vggish, vgg16, frames=args.frames,
                                      frames_dir=args.frames_dir, pca=pca,
                                      dequantize=args.dequantize)
        extractor.set_batch(args.batch)
        failures = extract.extract_all(matched, extractor, work, log_mel_splits=log_mel_splits,
                                       group=extract.clips_per_group(args.batch, args.frames),
                                       prefetch=args.prefetch)
        findings, notes = vggish.findings(), dict(extractor.notes)
    else:
        job = cluster.job_settings(args, vggish, vgg16, settings, work)
        group = args.group or max(8, 4 * extract.clips_per_group(args.batch, args.frames))
        print(f"extract: on the Dask cluster at {args.dask}, {group} clips a task",
              file=sys.stderr)
        failures, notes, findings = cluster.extract_on_cluster(
            client, matched, job, work, group=group, log_mel_splits=log_mel_splits)
    for line in findings:
        print(f"vggish: {line}", file=sys.stderr)
    for split in SPLITS:
        if not any(s == split and work.has(c.clip_id) for c, s, _ in matched):
            raise UsageError(f"no clip of the {split} split could be extracted (see "
                               f"{work.errors}); python -m avt_np.train needs every split")
    not_found = extract.not_found_rows(matched, no_file, work, failures)

    provenance = dict(
        settings, tool="python -m avt_np.features", avt_np_version=avt_np.__version__,
        command=command_line(argv), source=str(Path(args.clips).resolve()),
        labels=[str(parse_labels_arg(t)[1].resolve()) for t in args.labels],
        front_end="VGGish log-mel: 16 kHz mono (scipy resample_poly), 25 ms periodic Hann, "
                  "10 ms hop, FFT 512, |STFT|, 64 HTK mel bands 125-7500 Hz, log(mel+0.01), "
                  "96-frame examples",
        frame_times="t_k = 0.48 + 0.96 k s", log_mel_splits=list(log_mel_splits),
        vggish_findings=findings, batch=args.batch, dask=args.dask,
        skipped={cid: msg for cid, msg in failures.items()},
        notes=notes,                          # this run's clips only (errors.log keeps all)
        no_file=len(no_file),
        not_found={s: sum(row[0] == s for row in not_found) for s in SPLITS},
        extracted_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        written_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    counts = extract.write_dataset(args.out, matched, work, classes, args.frames, with_video,
                                   dtype=args.dtype, provenance=provenance,
                                   overwrite=args.overwrite, log_mel_splits=log_mel_splits,
                                   not_found=not_found)
    summary = f"wrote {args.out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + " clips"
    if failures:
        summary += f"; {len(failures)} skipped (see {work.errors})"
    if not_found:
        summary += (f"; {extract.plural(len(not_found), 'labelled clip')} not in the data set "
                    f"(see {Path(args.out) / 'not_found.csv'})")
    print(summary, file=sys.stderr)
    return 0


def command_line(argv):
    """'python -m avt_np.features <args>' as typed (argv None: this process's arguments)."""
    args = sys.argv[1:] if argv is None else list(argv)
    return shlex.join(["python", "-m", "avt_np.features", *args])


def main(argv=None):
    return cli.main(lambda argv: run(build_parser().parse_args(argv), argv), argv,
                    errors=(OSError,),
                    interrupted="interrupted: finished clips are kept in the work directory; "
                                "run the same command again to continue")


if __name__ == "__main__":
    raise SystemExit(main())
