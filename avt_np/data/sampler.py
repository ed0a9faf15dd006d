"""The balanced sampler of Sec. 3.2.2, after Xu et al. (Surrey-CVSSP system, DCASE 2017).

Training data is strongly unbalanced (Car: 25,077 clips, Car alarm: 180). Drawing clips
uniformly would show the model ~139 cars per car alarm. Instead, each batch is built by first
sampling class labels non-uniformly and then fetching a clip of each sampled class, so that the
most frequent class is presented at most `max_ratio` (5) times as often as the least frequent.

How the presentation rate of each class is chosen (our reading of the scheme):
- target rate of class c  ~  min(n_c / n_min, max_ratio)  (rarest class 1, frequent ones capped);
- a clip fetched for class k also presents its other labels (a police-car clip often carries
  "Car" too), so we solve for draw probabilities q (one per class) whose *presented* rates
  q @ M match the target, M[k, c] = share of class-k clips that also carry label c
  (a linear system, solved by non-negative least squares);
- every epoch draws exactly round(q * batches * batch_size) clips per class (so the rare classes
  get their share in every epoch, not just on average), shuffled into batches; clips of a class
  are taken without replacement from a fresh permutation, wrapping around for rare classes.
Randomness comes from (seed, epoch) alone: a resumed run sees exactly the same batches.

What is guaranteed, and what is not. The solved q gives an *expected* presented ratio
(`expected_ratio`, max/min of q @ M: the average over which clip of a class is fetched). When
the targets are reachable it is 0.9 x max_ratio (or 1 when max_ratio < 1/0.9). Co-occurrence can
make a bound unreachable: a class riding along with many others is presented whenever any of
them is drawn (on the embedded training set, max_ratio = 1 can only reach 1.06). Then the
sampler keeps the best least-squares q and prints one "warning:" line on stderr with the
reachable value; it does not raise, since training at a ratio of 1.06 (or 7 instead of 5) is
still sensible. A single epoch scatters around the expected ratio because the labels that ride
along are random (embedded training set, seed 0, epochs 0-30 of 300 x 40: 4.49-4.73 for an
expected 4.5, up to 5% above it); the 0.9 margin is what keeps such epochs under max_ratio, not
a hard bound.
"""

import sys

import numpy as np

MARGIN = 0.9        # aim for 0.9 * max_ratio so co-occurrence noise keeps an epoch under the bound


def presentation_targets(counts, max_ratio):
    """Desired relative presentation rate per class (0 for classes without clips)."""
    counts = np.asarray(counts, np.float64)
    present = counts > 0
    target = np.zeros_like(counts)
    target[present] = np.minimum(counts[present] / counts[present].min(), MARGIN * max_ratio)
    return target


def presentation_matrix(labels):
    """labels (N, C) -> (counts (C,), present (C,) bool, M): M[k, c] is the share of class k's
    clips that also carry class c, over the classes with clips. Drawing class k for a batch slot
    presents every class c with probability M[k, c], so q @ M are the presented rates."""
    labels = np.asarray(labels, np.float64)
    counts = labels.sum(axis=0)
    present = counts > 0
    cooccur = labels.T @ labels                                       # (C, C) clip counts
    return counts, present, cooccur[np.ix_(present, present)] / counts[present, None]


def draw_probabilities(labels, max_ratio):
    """labels (N, C) in {0, 1} -> q (C,): probability that a batch slot is drawn for class c."""
    from scipy.optimize import nnls          # imported here: scipy.optimize takes ~0.5 s to load
    counts, present, share = presentation_matrix(labels)
    target = presentation_targets(counts, max_ratio)[present]
    # presented rates q @ M should equal the target: a linear system, solved with q >= 0
    # (non-negative least squares; exact whenever the target is reachable at all)
    q = np.zeros(labels.shape[1])
    q[present] = nnls(share.T, target)[0]
    return q / q.sum()


def expected_ratio(labels, q):
    """Max/min over the classes with clips of the expected presented rates q @ M."""
    _, present, share = presentation_matrix(labels)
    presented = q[present] @ share
    return float(presented.max() / presented.min())


class BalancedSampler:
    """Batches of clip indices with balanced class presentation.

    labels: (N, C) in {0, 1}; `epoch(e)` -> int64 (batches_per_epoch, batch_size).
    Classes with no clip at all cannot be presented; they are listed in `absent`.
    """

    def __init__(self, labels, batch_size=40, batches_per_epoch=300, max_ratio=5, seed=0):
        labels = np.asarray(labels)
        if labels.ndim != 2 or labels.shape[0] == 0:
            raise ValueError(f"labels must be a non-empty (N, C) array, got shape {labels.shape}")
        if max_ratio < 1:
            raise ValueError(f"max_ratio must be >= 1, got {max_ratio}")
        self.labels = labels
        self.batch_size, self.batches_per_epoch = int(batch_size), int(batches_per_epoch)
        self.max_ratio, self.seed = max_ratio, seed
        self.members = [np.flatnonzero(labels[:, c]) for c in range(labels.shape[1])]
        self.absent = [c for c, m in enumerate(self.members) if m.size == 0]
        if len(self.absent) == labels.shape[1]:
            raise ValueError("no clip carries any label")
        self.q = draw_probabilities(labels, max_ratio)
        self.expected_ratio = expected_ratio(labels, self.q)
        if self.expected_ratio > max_ratio * (1 + 1e-6):
            print(f"warning: balanced sampler: max_ratio {max_ratio:g} cannot be reached with "
                  f"these labels (co-occurring classes); the expected presented max/min ratio "
                  f"is {self.expected_ratio:.2f}", file=sys.stderr)

    def draws_per_class(self):
        """Exactly how many batch slots each class gets per epoch (largest remainder)."""
        total = self.batch_size * self.batches_per_epoch
        exact = self.q * total
        draws = np.floor(exact).astype(np.int64)
        short = total - draws.sum()
        draws[np.argsort(draws - exact)[:short]] += 1
        return draws

    def epoch(self, epoch):
        rng = np.random.default_rng([self.seed, epoch])
        draws = self.draws_per_class()
        slot_class = rng.permutation(np.repeat(np.arange(draws.size), draws))   # (total,)
        indices = np.empty(slot_class.size, np.int64)
        for c, n in enumerate(draws):
            if n:
                members = self.members[c]
                laps = -(-n // members.size)
                picks = np.concatenate([rng.permutation(members) for _ in range(laps)])[:n]
                indices[slot_class == c] = picks
        return indices.reshape(self.batches_per_epoch, self.batch_size)

    def presented(self, batches):
        """Per-class presentations of a set of batches, every label of a clip counted."""
        return self.labels[np.asarray(batches).ravel()].sum(axis=0)
