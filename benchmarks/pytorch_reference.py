"""avt_np's training step against the same model in PyTorch eager, on this machine.

    pip install torch==2.13.0          # optional: only this comparison needs it (README, "Speed")
    python benchmarks/pytorch_reference.py [--rounds 7] [--steps 20]

The issue that set avt_np's speed target compares with "PyTorch's eager CPU training step for the
same model". Numbers from another machine cannot settle that, so this script measures both here.
It alternates the two in separate processes (avt_np, PyTorch, avt_np, ...: the machines drift
10-25% over minutes, and OpenBLAS and PyTorch's thread pools should not wait on each other in one
process), each process timing `--steps` training steps after a warm-up, and prints the median
step time of each and the median of the per-round ratios.

The PyTorch model below is the paper's model as avt_np builds it (avt_np/model/transformer.py),
written the way a PyTorch user would: nn.Linear, F.layer_norm, F.softmax, F.dropout, the
built-in BCE and torch.optim.Adam, float32, batch 40 x 10 frames, the same number of
parameters (checked before timing). It is a timing reference, not a second implementation of
avt_np: nothing else in the project uses it.
"""

import argparse
import json
import math
import subprocess
import sys
import time

import numpy as np

BATCH, FRAMES, CLASSES = 40, 10, 17
DIMS = {"audio": 128, "video": 4096}


def numpy_steps(first, second, steps):
    """Median seconds of an avt_np training step (avt_np.bench's step, python -m avt_np.train's
    default --cores 2)."""
    from avt_np.bench import training_step_case
    from avt_np.model import ModelConfig
    pos_enc = ("video",) if (first, second) == ("video", "audio") else ()
    step, _, close = training_step_case(ModelConfig(first=first, second=second, pos_enc=pos_enc),
                                        np.random.default_rng(0), cores=2)
    try:
        return timed(step, steps), None
    finally:
        close()


def torch_training_step(first, second):
    """The same model's training step in PyTorch eager, as a function of no arguments, and the
    model's parameter count. Imported by `python -m avt_np.bench`, which times it interleaved
    with avt_np's step in one process when PyTorch is installed."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.manual_seed(0)
    d, heads, d_head, p = 128, 3, 128, 0.1

    class MultiHeadAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.q, self.k, self.v = (nn.Linear(d, heads * d_head) for _ in range(3))
            self.out = nn.Linear(heads * d_head, d)

        def forward(self, x, memory):
            B, Tq, Tk = x.shape[0], x.shape[1], memory.shape[1]
            q = self.q(x).view(B, Tq, heads, d_head).transpose(1, 2)         # (B, H, Tq, d)
            k = self.k(memory).view(B, Tk, heads, d_head).transpose(1, 2)
            v = self.v(memory).view(B, Tk, heads, d_head).transpose(1, 2)
            w = F.softmax(q @ k.transpose(-1, -2) / math.sqrt(d_head), dim=-1)
            heads_out = F.dropout(w, p, self.training) @ v                    # (B, H, Tq, d)
            merged = heads_out.transpose(1, 2).reshape(B, Tq, heads * d_head)
            return F.dropout(self.out(merged), p, self.training)

    class FeedForward(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden, self.out = nn.Linear(d, d), nn.Linear(d, d)

        def forward(self, x):
            h = F.dropout(F.relu(self.hidden(x)), p, self.training)
            return F.dropout(self.out(h), p, self.training)

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn, self.ff = MultiHeadAttention(), FeedForward()
            self.norm1, self.norm2 = nn.LayerNorm(d, eps=1e-6), nn.LayerNorm(d, eps=1e-6)

        def forward(self, x):
            x = self.norm1(x + self.attn(x, x))
            return self.norm2(x + self.ff(x))

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn, self.cross, self.ff = MultiHeadAttention(), MultiHeadAttention(), FeedForward()
            self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d, eps=1e-6) for _ in range(3))

        def forward(self, x, memory):
            x = self.norm1(x + self.attn(x, x))
            x = self.norm2(x + self.cross(x, memory))
            return self.norm3(x + self.ff(x))

    def positional_encoding(T):
        position = torch.arange(T, dtype=torch.float32)[:, None]
        rate = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
        pe = torch.zeros(T, d)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(position * rate), torch.cos(position * rate)
        return pe

    class Transformer(nn.Module):
        def __init__(self):
            super().__init__()
            self.first_in, self.second_in = nn.Linear(DIMS[first], d), nn.Linear(DIMS[second], d)
            self.encoder = nn.ModuleList(Encoder() for _ in range(3))
            self.decoder = nn.ModuleList(Decoder() for _ in range(3))
            self.classifier = nn.Linear(d, CLASSES)
            self.register_buffer("pe", positional_encoding(FRAMES))

        def forward(self, a, b):
            memory = F.dropout(self.first_in(a), p, self.training)
            if first == "video" and second == "audio":          # the default: PE on video
                memory = memory + self.pe
            for block in self.encoder:
                memory = block(memory)
            x = F.dropout(self.second_in(b), p, self.training)
            for block in self.decoder:
                x = block(x, memory)
            return torch.sigmoid(self.classifier(x)).mean(1)                 # (B, C)

    model = Transformer()
    adam = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    rng = np.random.default_rng(0)
    inputs = {"audio": torch.from_numpy(rng.standard_normal((BATCH, FRAMES, 128), dtype=np.float32)),
              "video": torch.from_numpy(np.maximum(
                  rng.standard_normal((BATCH, FRAMES, 4096), dtype=np.float32), 0))}
    labels = torch.from_numpy((rng.random((BATCH, CLASSES)) < 0.1).astype(np.float32))

    def step():
        adam.zero_grad()
        loss = F.binary_cross_entropy(model(inputs[first], inputs[second]), labels)
        loss.backward()
        adam.step()
    return step, sum(t.numel() for t in model.parameters())


def torch_steps(first, second, steps):
    """Median seconds of the PyTorch eager step, and the model's parameter count."""
    step, count = torch_training_step(first, second)
    return timed(step, steps), count


def timed(step, steps):
    for _ in range(3):                                          # warm up caches and allocators
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def parameter_count(first, second):
    from avt_np.model import AudiovisualTransformer, ModelConfig
    return AudiovisualTransformer(ModelConfig(first=first, second=second, pos_enc=())).num_parameters()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds (7)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per process (20)")
    parser.add_argument("--pair", default="video/audio",
                        choices=["video/audio", "audio/audio"], help="first/second modality")
    parser.add_argument("--engine", choices=["numpy", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    first, second = args.pair.split("/")
    if args.engine:                                # one timed process: print its result
        run = numpy_steps if args.engine == "numpy" else torch_steps
        seconds, count = run(first, second, args.steps)
        print(json.dumps({"seconds": seconds, "parameters": count}))
        return
    try:
        import torch  # noqa: F401  (only to fail early, with a clear message)
    except ImportError:
        sys.exit("benchmarks/pytorch_reference.py: PyTorch is not installed; "
                 "`pip install torch==2.13.0` (CPU build) first")

    def one(engine):
        out = subprocess.run([sys.executable, __file__, "--engine", engine, "--pair", args.pair,
                              "--steps", str(args.steps)], capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    times = {"numpy": [], "torch": []}
    for r in range(args.rounds):
        for engine in times:
            result = one(engine)
            if engine == "torch" and result["parameters"] != parameter_count(first, second):
                sys.exit(f"the PyTorch model has {result['parameters']:,} parameters, avt_np's "
                         f"{parameter_count(first, second):,}: not the same model")
            times[engine].append(result["seconds"])
        print(f"round {r + 1}/{args.rounds}: avt_np {1e3 * times['numpy'][-1]:.1f} ms, "
              f"PyTorch {1e3 * times['torch'][-1]:.1f} ms", file=sys.stderr, flush=True)
    ratio = np.median(np.divide(times["numpy"], times["torch"]))
    print(f"training step {args.pair}, batch {BATCH} x {FRAMES} frames, float32: "
          f"avt_np median {1e3 * np.median(times['numpy']):.1f} ms, "
          f"PyTorch {torch.__version__} eager median {1e3 * np.median(times['torch']):.1f} ms; "
          f"avt_np / PyTorch = {ratio:.2f} (median per-round ratio, {args.rounds} rounds)")


if __name__ == "__main__":
    main()
