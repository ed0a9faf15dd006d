"""Feature extraction (Sec. 3.2.1): audio -> log-mel -> VGGish (128-d per 0.96 s), video frames
at the window centres -> VGG16 fc7 (4096-d), through onnxruntime, into the data set format.

    audio.py        VGGish's log-mel front end in NumPy/SciPy (`waveform_to_examples`)
    onnx_model.py   opening ONNX files and checking their tensors
    vggish.py       VGGish runner, final-ReLU / quantisation detection, PCA + 8-bit option
    vgg16.py        VGG16 runner (fc7 after ReLU) and its image preprocessing
    vgg16_graph.py  fc7 added to the zoo's VGG16 graph, its batch made symbolic (weights fetch)
    video.py        frames at t = 0.48 + 0.96 k s via ffmpeg or a folder of images
    labels.py       DCASE 2017 Task 4 weak-label CSVs
    extract.py      per-clip extraction with a resumable cache, then the data set
    __main__.py     `python -m avt_np.features` (the extraction command line)
    bench.py        `python -m avt_np.features.bench` (front-end speed)
"""

from avt_np.features.audio import AudioError, waveform_to_examples

__all__ = ["AudioError", "waveform_to_examples"]
