"""Probe for step 9 (torch.compile): step 7's training loop eager and compiled, on CUDA.

Not a test and not the benchmark: a measurement to plan step 9 with. Times one training step
(forward, loss, loss.item(), zero_grad, backward, SGD step) of step 7's TwoLayerNet, eager and
under torch.compile with inductor (default mode and "reduce-overhead", which uses CUDA graphs),
next to the five-product floor of benchmark.py. Medians of 11 blocks of 200 steps.
"""
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmark import SIZES, make_inputs, matmul_floor  # noqa: E402
from two_layer_net_module import TwoLayerNet, compute_loss  # noqa: E402

BLOCK, ROUNDS = 200, 11


def timed(run):
    torch.cuda.synchronize()
    start = time.perf_counter()
    run()
    torch.cuda.synchronize()
    return time.perf_counter() - start


def trainer(size, mode):
    x, y, w1, w2 = make_inputs("tensor", size, "cuda")
    model = TwoLayerNet(w1, w2)
    if mode != "eager":
        model = torch.compile(model, mode=mode)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-12)

    def run(k=BLOCK):
        for _ in range(k):
            loss = compute_loss(model(x), y)
            loss.item()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return run


def main():
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, float32, "
          f"medians of {ROUNDS} blocks of {BLOCK} steps\n")
    print("| what | N, D_in, H, D_out | first step s | ms per step | x floor |")
    print("|---|---|---:|---:|---:|")
    for size_name in ["default", "1024"]:
        size = SIZES[size_name]
        inputs = make_inputs("tensor", size, "cuda")

        def floor(k=BLOCK, inputs=inputs):
            with torch.no_grad():
                for _ in range(k):
                    matmul_floor(*inputs)
        floor(10)
        floor_ms = statistics.median(timed(floor) for _ in range(ROUNDS)) / BLOCK * 1e3
        print(f"| floor | {size} | | {floor_ms:.3f} | 1.00 |", flush=True)
        for mode in ["eager", "default", "reduce-overhead"]:
            run = trainer(size, mode)
            first = timed(lambda run=run: run(1))
            run(20)
            ms = statistics.median(timed(run) for _ in range(ROUNDS)) / BLOCK * 1e3
            print(f"| {mode} | {size} | {first:.2f} | {ms:.3f} | {ms / floor_ms:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
