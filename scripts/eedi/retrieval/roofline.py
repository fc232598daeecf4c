"""How close an encoder's training and encoding run to this machine's peak: FLOPs counted from
the model's shapes and the real (unpadded) tokens it was given, against a large matmul's rate.

    peak = peak_gflops(torch.float32)             # GFLOP/s of a 2048 x 2048 matmul here
    meter = TokenMeter(model)                     # counts every forward's real tokens
    ... run steps ...
    meter.forward_flops()                         # FLOPs of those forwards, padding excluded
    3 * meter.forward_flops()                     # a training step's: forward + backward (2x)

A transformer encoder's forward over a sequence of n tokens costs 2 n P for its linear layers
(P: their weights, the embeddings' lookups excluded) and 4 n^2 d per layer for attention
(Q K^T and the weighted sum of V, d the hidden size). Padding is work the machine does but the
model does not need, so it counts against the achieved rate: that is what batching by length buys.
"""

from __future__ import annotations

import resource
import time

import torch


def peak_gflops(dtype: torch.dtype, size: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of a size x size matmul in dtype on this CPU or GPU, best of `repeats`."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    a = torch.randn(size, size, dtype=dtype, device=device)
    b = torch.randn(size, size, dtype=dtype, device=device)
    a @ b  # warm-up: the library picks its kernel
    best = float("inf")
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best / 1e9


def linear_weights(model) -> int:
    """P: the weights of the model's linear layers (what every token multiplies through)."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))


class TokenMeter:
    """Counts the real tokens (sum n, sum n^2) and the padded ones of every forward pass of a
    SentenceTransformer's first module, until close()."""

    def __init__(self, model):
        config = model[0].auto_model.config
        self.layers, self.hidden = config.num_hidden_layers, config.hidden_size
        self.weights = linear_weights(model[0].auto_model)
        self.tokens = self.squares = self.padded = self.sequences = 0
        self.handle = model[0].register_forward_pre_hook(self._count)

    def _count(self, module, args):
        mask = args[0]["attention_mask"]
        n = mask.sum(dim=1).double()
        self.tokens += int(n.sum())
        self.squares += int((n * n).sum())
        self.padded += mask.numel()
        self.sequences += len(n)

    def reset(self) -> None:
        self.tokens = self.squares = self.padded = self.sequences = 0

    def forward_flops(self) -> float:
        return 2 * self.tokens * self.weights + 4 * self.squares * self.hidden * self.layers

    def close(self) -> None:
        self.handle.remove()


class Usage:
    """Wall, user and system seconds between start() and stop(); peak RSS of the process."""

    def start(self) -> None:
        self._wall, self._ru = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)

    def stop(self) -> dict:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return {"seconds": time.perf_counter() - self._wall,
                "user_s": ru.ru_utime - self._ru.ru_utime,
                "system_s": ru.ru_stime - self._ru.ru_stime,
                "peak_rss_gb": ru.ru_maxrss / 1e6}  # Linux: KiB
