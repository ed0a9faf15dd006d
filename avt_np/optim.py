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
    """Optimizer state is keyed by each parameter's full dotted name (never shared by accident)."""

    def __init__(self, module, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        self.module = module
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.t = 0
        self.m = {name: np.zeros_like(p) for name, p, _ in module.parameters()}
        self.v = {name: np.zeros_like(p) for name, p, _ in module.parameters()}

    def step(self):
        """Update every parameter in place from its accumulated gradient."""
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        lr_t = self.lr * np.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)   # Python float
        for name, p, g in self.module.parameters():
            m, v = self.m[name], self.v[name]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            p -= lr_t * m / (np.sqrt(v) + self.eps)

    def state_dict(self):
        state = {"t": np.array(self.t)}
        state.update({f"m.{k}": a for k, a in self.m.items()})
        state.update({f"v.{k}": a for k, a in self.v.items()})
        return state

    def load_state_dict(self, state):
        self.t = int(state["t"])
        for table, prefix in ((self.m, "m."), (self.v, "v.")):
            for name in table:
                table[name][...] = state[prefix + name]
