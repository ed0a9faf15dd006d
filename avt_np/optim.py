"""Adam with TensorFlow's defaults (paper Sec. 3.2.8: "standard settings as defined in TensorFlow").

TensorFlow's AdamOptimizer (Kingma & Ba, Sec. 2, the form before Algorithm 1's last line):
    t  <- t + 1
    m  <- beta1 m + (1 - beta1) g
    v  <- beta2 v + (1 - beta2) g^2
    lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
    p  <- p - lr_t * m / (sqrt(v) + eps)
Note eps is added to sqrt(v) without bias correction ("epsilon hat"), as TensorFlow does.
"""

import numpy as np


class Adam:
    """Adam over every parameter of `module`.

    The module's parameters are packed into one flat buffer (Module.flatten_parameters), so a
    step is a dozen in-place NumPy calls per block of the flat buffers, not a dozen per tensor.
    The moments are flat too; `state_dict` names them by each parameter's full dotted name.
    """

    # Update in blocks of 2^16 values (256 KB per float32 array): the dozen passes of `update` then
    # reuse a block while it is still in cache, instead of streaming every 10 MB buffer from
    # memory a dozen times. Measured here: ~30% faster than one pass over the whole buffers.
    BLOCK = 1 << 16

    def __init__(self, module, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, allocate=np.zeros):
        """allocate(size, dtype) -> zeroed flat buffer: np.zeros, or shared memory when two
        processes update the parameters together (avt_np/training_step.py)."""
        self.module = module
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.t = 0
        self.params, self.grads = module.flatten_parameters(allocate)
        self.m = allocate(self.params.size, self.params.dtype)
        self.v = allocate(self.params.size, self.params.dtype)
        # The gradient is the sum of these buffers: just self.grads, unless a data-parallel
        # step adds its other half-batch's buffer (avt_np/training_step.py).
        self.gradients = [self.grads]
        self.scratch = np.empty(min(self.BLOCK, self.params.size), self.params.dtype)
        self.summed = np.empty_like(self.scratch)

    def zero_grad(self):
        """Reset every gradient: one fill of the flat buffer."""
        self.grads[...] = 0

    def step(self, part=None):
        """Update every parameter in place from its accumulated gradient. part: only the
        parameters in this slice of the flat buffer (slice starts at a multiple of BLOCK)."""
        self.t += 1
        self.apply(self.t, part)

    def apply(self, t, part=None):
        """The update of step t, without counting a step: training_step.py's two processes
        each apply one part of the same step."""
        lr_t = self.lr * (1 - self.beta2 ** t) ** 0.5 / (1 - self.beta1 ** t)   # Python float
        part = part or slice(0, self.params.size)
        for start in range(part.start, part.stop, self.BLOCK):
            block = slice(start, min(start + self.BLOCK, part.stop))
            g = self.gradients[0][block]
            for other in self.gradients[1:]:          # summed block by block, while in cache
                g = np.add(g, other[block], out=self.summed[:g.size])
            self.update(self.params[block], g, self.m[block], self.v[block],
                        self.scratch[:g.size], lr_t)

    def update(self, p, g, m, v, tmp, lr_t):
        """One Adam update of a block of parameters, in place; `tmp` is scratch space."""
        b1, b2 = self.beta1, self.beta2
        m *= b1
        m += np.multiply(g, 1 - b1, out=tmp)
        v *= b2
        np.multiply(g, g, out=tmp)
        v += np.multiply(tmp, 1 - b2, out=tmp)
        np.sqrt(v, out=tmp)
        tmp += self.eps
        np.divide(m, tmp, out=tmp)
        p -= np.multiply(tmp, lr_t, out=tmp)

    def named_slices(self):
        """(full dotted name, slice of the flat buffers, shape) for every parameter."""
        offset = 0
        for name, p, _ in self.module.parameters():
            yield name, slice(offset, offset + p.size), p.shape
            offset += p.size

    def state_dict(self):
        state = {"t": np.array(self.t)}
        for name, where, shape in self.named_slices():
            state[f"m.{name}"] = self.m[where].reshape(shape).copy()
            state[f"v.{name}"] = self.v[where].reshape(shape).copy()
        return state

    def load_state_dict(self, state):
        self.t = int(state["t"])
        for name, where, shape in self.named_slices():
            self.m[where] = state[f"m.{name}"].ravel()
            self.v[where] = state[f"v.{name}"].ravel()
