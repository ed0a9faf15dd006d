"""The features of the files `python -m avt_np.tag` is given: VGGish (and VGG16 fc7 when the
model reads video) through the same Extractor as `python -m avt_np.features` (Sec. 3.2.1).

Each clip's features are kept in a resumable work directory (avt_np.features.extract.WorkDir),
with small thumbnails of its video frames for the pictures, so a stopped run resumes and a
second run over the same files extracts nothing. A clip that cannot be used (unreadable,
silent, shorter than one 0.96 s example, no video for a model that reads video) is reported
and skipped; the others are still tagged.
"""

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from avt_np.cli import UsageError, first_line
from avt_np.data import EMBEDDED
from avt_np.features import extract
from avt_np.features.extract import AUDIO_SUFFIXES, VIDEO_SUFFIXES, Clip
from avt_np.features.video import have_ffmpeg
from avt_np.progress import Progress
from avt_np.weights import cached_sha256, require, weights_differ

FRAMES = 10                 # 0.96 s windows per clip, as the data sets (Sec. 3.2.1)
THUMBNAIL = 64              # pixels per side of the video frames kept for pictures


def clips_of(inputs):
    """INPUT arguments -> ([Clip], [(name, reason)] of inputs that are no clip)."""
    clips, failures = [], []
    for spec in inputs:
        path = Path(spec)
        if path.is_dir():
            found = extract.discover_clips(path)
            if not found:
                failures.append((str(path), "no audio or video file in this folder"))
            clips.extend(found)
        elif not path.is_file():
            failures.append((str(path), "no such file or folder"))
        elif path.suffix.lower() in VIDEO_SUFFIXES:
            clips.append(Clip(path.stem, video=path))
        elif path.suffix.lower() in AUDIO_SUFFIXES:
            clips.append(Clip(path.stem, audio=path))
        else:
            failures.append((str(path), f"not an audio or video file (known: "
                                        f"{', '.join(sorted(VIDEO_SUFFIXES | AUDIO_SUFFIXES))})"))
    unique, seen = [], set()
    for clip in clips:
        if clip.clip_id in seen:
            failures.append((file_name(clip), "another input has the same name"))
        else:
            seen.add(clip.clip_id)
            unique.append(clip)
    return unique, failures


def file_name(clip):
    """The name a clip goes by in tags.tsv and events.tsv: its video's file name, else its
    audio's (DCASE lists files by name)."""
    return (clip.video or clip.audio).name


def network_files(config, args, run_data):
    """(VGGish file, VGG16 file or None, work-directory settings) for a model reading config's
    modalities: the files are found (weights.require: a missing one names the fetch command)
    and hashed, not loaded (loading VGG16 takes seconds; a rerun over kept features needs no
    network). A warning on stderr when the run's data set was made with other weights (its
    features and these would not match)."""
    with_video = "video" in (config.first, config.second)
    vggish = require(args.vggish or "vggish", "vggish")
    vgg16 = require(args.vgg16 or "vgg16_fc7", "vgg16_fc7") if with_video else None
    settings = {"vggish": str(vggish), "vggish_sha256": cached_sha256(vggish),
                "frames": FRAMES, "thumbnail": THUMBNAIL}
    if vgg16 is not None:
        settings.update(vgg16=str(vgg16), vgg16_sha256=cached_sha256(vgg16),
                        vgg16_preprocess=args.vgg16_preprocess)
    if run_data and run_data != EMBEDDED:
        for line in weights_differ(Path(run_data) / "meta.json", {"vggish": vggish,
                                                                  "vgg16": vgg16},
                                   made=f"the run's data set {run_data}"):
            print(f"warning: {line}", file=sys.stderr)
    return vggish, vgg16, settings


def extractor_of(vggish, vgg16, args):
    """The Extractor of the two network files, loaded through onnxruntime."""
    from avt_np.features.vgg16 import VGG16                # imported here: onnxruntime, slow
    from avt_np.features.vggish import VGGish              # to load: --help needs neither
    video = VGG16(vgg16, style=args.vgg16_preprocess) if vgg16 is not None else None
    return extract.Extractor(VGGish(vggish), video, frames=FRAMES)


def thumbnails(frames):
    """(T, 224, 224, 3) uint8 video frames -> (T, THUMBNAIL, THUMBNAIL, 3) uint8."""
    return np.stack([np.asarray(Image.fromarray(f).resize((THUMBNAIL, THUMBNAIL), Image.BOX))
                     for f in frames])


def extracted(clip, extractor):
    """The arrays of one clip, as cached: audio, video (with VGG16), valid, log_mel, and the
    thumbnails of its present video frames. Raises extract.CLIP_ERRORS."""
    prepared = extractor.prepare(clip)
    arrays = extractor.embed([prepared])[0]
    note = extractor.notes.pop(clip.clip_id, None)
    if note:                                       # silence: nothing to tag
        raise ValueError(note)
    if prepared.frames is not None:
        arrays["thumbnails"] = thumbnails(prepared.frames) * prepared.present[:, None, None, None]
    return arrays


def kept(work, clip_id, with_video):
    """The features of clip_id kept in the work dir, or None when there are none or they are
    damaged (arrays missing, of other shapes, not finite: WorkDir.load's checks): the work dir
    is only a cache, so such a clip is extracted again."""
    if not work.has(clip_id):
        return None
    needed = ("audio", "valid", "log_mel") + (("video",) if with_video else ())
    try:
        return work.load(clip_id, needed, frames=FRAMES)
    except extract.DamagedCache:
        return None


def clip_features(inputs, config, work_dir, args, run_data=None):
    """Features of every clip in `inputs` -> (clips [{file, audio, video?, length, log_mel}],
    failures [(file, reason)], {file: (T, h, w, 3) video thumbnails} for the pictures)."""
    clips, failures = clips_of(inputs)
    with_video = "video" in (config.first, config.second)
    if with_video:
        no_video = [c for c in clips if c.video is None]
        failures += [(file_name(c), "the model reads video; this clip has no video file")
                     for c in no_video]
        clips = [c for c in clips if c.video is not None]
    if not clips:
        return [], failures, {}
    if (with_video or any(c.audio is None for c in clips)) and not have_ffmpeg():
        raise UsageError("the ffmpeg command is needed to decode video but is not installed "
                         "(apt-get install -y ffmpeg)")
    vggish, vgg16, settings = network_files(config, args, run_data)
    work = extract.WorkDir(work_dir, settings)           # a UsageError when made otherwise
    extractor = None                                   # loaded for the first clip to extract
    out, thumbnails_of = [], {}
    progress = Progress(len(clips), "tag: features") if len(clips) > 1 else None
    for k, clip in enumerate(clips, 1):
        name = file_name(clip)
        try:
            arrays = kept(work, clip.clip_id, with_video)
            if arrays is None:
                extractor = extractor or extractor_of(vggish, vgg16, args)
                arrays = extracted(clip, extractor)
                work.save(clip.clip_id, arrays)
        except extract.CLIP_ERRORS as e:
            failures.append((name, first_line(e)))
            continue
        features = {m: arrays[m] for m in ("audio", "video") if m in arrays}
        out.append(dict(features, file=name, length=extract.clip_length(arrays["valid"]),
                        log_mel=arrays["log_mel"]))
        if "thumbnails" in arrays:
            thumbnails_of[name] = arrays["thumbnails"]
        if progress:
            progress.update(k, name)
    return out, failures, thumbnails_of
