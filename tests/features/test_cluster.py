"""python -m avt_np.features --dask on a loopback Dask cluster (distributed.LocalCluster, worker
processes, 127.0.0.1 only): the same data set as a local run, a killed run resumes without
redoing finished clips, a worker that dies mid-group is survived. CI installs Dask
(requirements-scaleout.txt); elsewhere these tests are skipped."""

import os
import time
from pathlib import Path

import numpy as np
import pytest

from avt_np import dask_client
from avt_np.data.format import open_dataset
from avt_np.features import cluster, extract
from avt_np.features.__main__ import main
from tests.features.conftest import write_frames, write_wav

distributed = pytest.importorskip("distributed", reason="Dask is optional: pip install -r "
                                                        "requirements-scaleout.txt")

CLIPS = [(f"k{i}_0.000_10.000", ("train", "train", "train", "validation", "test", "train",
                                 "train", "test")[i], 2.0 + 0.5 * (i % 4)) for i in range(8)]


@pytest.fixture(scope="module")
def address():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  protocol="tcp", host="127.0.0.1", dashboard_address=None,
                                  silence_logs=40) as c:
        assert c.scheduler_address.startswith("tcp://127.0.0.1:")
        yield c.scheduler_address


@pytest.fixture
def folder(tmp_path):
    """Eight wav clips with frames folders and their label files."""
    (tmp_path / "clips").mkdir()
    for i, (cid, _, seconds) in enumerate(CLIPS):
        write_wav(tmp_path / "clips" / f"{cid}.wav", seconds, 250.0 + 100 * i)
        write_frames(tmp_path / "frames" / cid, seconds, (15 * i, 80, 40))
    for split in ("train", "validation", "test"):
        (tmp_path / f"{split}.csv").write_text(
            "".join(f"{cid}.wav\t0\t10\tCar\n" for cid, s, _ in CLIPS if s == split))
    return tmp_path


def flags(folder, out):
    return ["--clips", str(folder / "clips"), "--frames-dir", str(folder / "frames"),
            "--labels", f"train={folder / 'train.csv'}",
            "--labels", f"validation={folder / 'validation.csv'}",
            "--labels", f"test={folder / 'test.csv'}", "--out", str(folder / out),
            "--dtype", "float32", "--frames", "4"]


def assert_same_data_set(a, b):
    a, b = open_dataset(a), open_dataset(b)
    for split in ("train", "validation", "test"):
        x, y = a[split], b[split]
        assert x.clip_ids == y.clip_ids
        np.testing.assert_array_equal(x.lengths, y.lengths)
        bx, by = x.batch(np.arange(len(x))), y.batch(np.arange(len(y)))
        for k in ("audio", "video"):
            np.testing.assert_allclose(by[k], bx[k], rtol=1e-5, atol=1e-6)


def test_a_dask_cluster_gives_the_data_set_of_a_local_run(folder, weights, address, capsys):
    assert main(flags(folder, "local")) == 0
    assert main([*flags(folder, "dask"), "--dask", address, "--group", "3"]) == 0
    assert f"on the Dask cluster at {address}, 3 clips a task" in capsys.readouterr().err
    assert_same_data_set(folder / "local", folder / "dask")
    assert len(list((folder / "dask.work" / "clips").glob("*.npz"))) == len(CLIPS)
    assert open_dataset(folder / "dask").meta["provenance"]["dask"] == address


def slow_group(job, items, log_mel_splits=()):
    """extract_group, slowed down so that a run can be interrupted with tasks still queued."""
    time.sleep(0.3)
    return cluster.extract_group(job, items, log_mel_splits)


def die_once_midway(job, items, log_mel_splits=()):
    """The first task to get here extracts half its group, then its worker process dies."""
    try:
        os.close(os.open(Path(job["work"]) / "died", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return cluster.extract_group(job, items, log_mel_splits)
    half = items[: len(items) // 2]
    cluster.extract_group(job, half, log_mel_splits)
    (Path(job["work"]) / "died").write_text(" ".join(c.clip_id for c, _, _ in half))
    os._exit(1)


def cluster_run(folder, address, group, task, on_result=None, out="dask"):
    """extract_on_cluster over the folder's clips, as the command line sets it up."""
    from avt_np.features.__main__ import build_parser, parse_log_mel
    from avt_np.features.labels import read_weak_labels
    from avt_np.features.vgg16 import VGG16
    from avt_np.features.vggish import VGGish
    args = build_parser().parse_args(flags(folder, out))
    labels = {s: read_weak_labels(folder / f"{s}.csv") for s in ("train", "validation", "test")}
    matched, _ = extract.match_labels(extract.discover_clips(folder / "clips"), labels)
    vggish, vgg16 = VGGish("vggish"), VGG16("vgg16_fc7")
    settings = {"test": "cluster"}
    work = extract.WorkDir(folder / f"{out}.work", settings)
    job = cluster.job_settings(args, vggish, vgg16, settings, work)
    client = dask_client.connect(address)
    try:
        return cluster.extract_on_cluster(client, matched, job, work, group=group, task=task,
                                          on_result=on_result,
                                          log_mel_splits=parse_log_mel(args.log_mel)), work
    finally:
        client.close()


def test_a_worker_dying_mid_group_loses_only_its_unfinished_clips(folder, weights, address):
    results = []
    (failures, _, _), work = cluster_run(folder, address, 4, die_once_midway, results.append)
    assert failures == {} and all(work.has(cid) for cid, _, _ in CLIPS)
    died = (Path(work.path) / "died").read_text().split()
    assert len(died) == 2                                 # half of a group of 4 was done
    extracted = [cid for r in results for cid in r["extracted"]]
    assert not set(extracted) & set(died)                 # the retry did only the other half
    assert sorted(extracted + died) == sorted(cid for cid, _, _ in CLIPS)


def test_a_killed_dask_run_resumes_without_redoing_finished_clips(folder, weights, address,
                                                                  capsys):
    def stop(result):
        raise KeyboardInterrupt                           # the client is killed here

    with pytest.raises(KeyboardInterrupt):
        cluster_run(folder, address, 1, slow_group, stop, out="data")
    client = dask_client.connect(address)
    try:                                                  # tasks still running finish
        deadline = time.monotonic() + 600                 # a hang guard
        while any(client.run(lambda dask_worker: dask_worker.state.executing_count).values()):
            assert time.monotonic() < deadline, "workers still busy after 600 s"
            time.sleep(0.1)
    finally:
        client.close()
    done = {p.stem: p.stat().st_mtime_ns for p in (folder / "data.work" / "clips").glob("*.npz")}
    assert 0 < len(done) < len(CLIPS)
    capsys.readouterr()
    # cluster_run stored stand-in settings; the command line stores its own (same features)
    (folder / "data.work" / "settings.json").unlink()
    assert main([*flags(folder, "data"), "--dask", address, "--group", "2"]) == 0
    assert f"extract: {len(done)} clip{'s' if len(done) > 1 else ''} already done" \
        in capsys.readouterr().err
    assert {p: (folder / "data.work" / "clips" / f"{p}.npz").stat().st_mtime_ns
            for p in done} == done                       # finished clips were not redone
    assert main(flags(folder, "local")) == 0
    assert_same_data_set(folder / "local", folder / "data")
