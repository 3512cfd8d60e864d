"""Plot the loss of every step of the ladder against the training step, in one PNG.

Runs each script's main() with one seed (on the CPU, with its other defaults), reads the `step
loss` lines it prints, and draws them on a log scale; step 11 runs twice, as a world of one
process and launched by torchrun with two. Steps 2, 3 and 5 to 8 start from the same numbers
and do the same maths, so their lines lie on top of each other, and so do step 10's, the same
maths compiled (dotted), and step 11's, the same maths split over processes (dash-dotted and
finely dotted); step 1 draws its numbers with numpy (another start) and computes in float64 (the
torch steps default to float32), step 4 computes step 1's very numbers with an engine of its own
(its wide grey line lies under step 1's), and dynamic_net is a different, deeper net. The picture
says so in its legend.

Needs matplotlib (pip install matplotlib); the steps themselves do not.

Run:
    python plot_losses.py                         # writes docs/losses.png
    python plot_losses.py --seed 1 --output /tmp/losses.png
"""
import argparse
import contextlib
import importlib
import io
import math
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# Every step of the ladder, in order, with its label and line style. The overlapping lines of
# steps 2, 3 and 5 to 8 are drawn widest first, so that each stays visible under the ones drawn
# after it; step 1 is dashed, over step 4's wide grey line; step 10 dotted and step 11
# dash-dotted (1 process) and finely dotted (2 processes), drawn on top.
LADDER = [
    ("two_layer_net_numpy", "1 numpy (float64, its own random start)",
     dict(lw=1.5, color="black", ls="--", zorder=3)),
    ("two_layer_net_tensor", "2 tensor", dict(lw=7.0, color="#c6dbef")),
    ("two_layer_net_autograd", "3 autograd", dict(lw=5.5, color="#9ecae1")),
    ("two_layer_net_own_autograd", "4 own autograd (numpy: step 1's numbers, to the bit)",
     dict(lw=5.0, color="#bdbdbd", zorder=2)),
    ("two_layer_net_custom_function", "5 custom Function", dict(lw=4.0, color="#6baed6")),
    ("two_layer_net_nn", "6 nn", dict(lw=3.0, color="#4292c6")),
    ("two_layer_net_optim", "7 optim (SGD)", dict(lw=2.0, color="#2171b5")),
    ("two_layer_net_module", "8 custom Module", dict(lw=1.0, color="#08306b")),
    ("dynamic_net", "9 dynamic net (another net)", dict(lw=1.0, color="tab:orange")),
    ("two_layer_net_compile", "10 compiled (inductor)", dict(lw=1.5, color="tab:red", ls=":",
                                                              zorder=4)),
    ("two_layer_net_ddp", "11 DDP, 1 process", dict(lw=1.5, color="tab:green", ls="-.",
                                                    zorder=5)),
    ("two_layer_net_ddp, 2 processes", "11 DDP, 2 processes (torchrun)",
     dict(lw=1.0, color="tab:purple", ls=(0, (1, 3)), zorder=6)),
]
# Launched as the README launches it, from the Python that runs this script.
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node"]


class StepFailedError(Exception):
    """A step ended with a status other than 0; the message is its last line."""


def run_step(name, seed, steps):
    """The losses a step prints with this seed, on the CPU, with its other defaults."""
    argv = ["--seed", str(seed), "--steps", str(steps)]
    if name not in ("two_layer_net_numpy", "two_layer_net_own_autograd"):    # numpy alone
        argv += ["--device", "cpu"]
    if name.endswith(", 2 processes"):
        script = os.path.join(HERE, name.split(",")[0] + ".py")
        result = subprocess.run(TORCHRUN + ["2", script] + argv, capture_output=True, text=True)
        if result.returncode != 0:      # the step's own line (rank 0's), else torchrun's last
            said = [line for line in result.stderr.splitlines() if ".py: " in line]
            raise StepFailedError(f"torchrun ... {name}.py {' '.join(argv)} failed: "
                                  + (said[:1] or result.stderr.strip().splitlines()[-1:]
                                     or ["?"])[0])
        return [float(line.split()[1]) for line in result.stdout.splitlines()]
    step = importlib.import_module(name)
    out, err = io.StringIO(), io.StringIO()
    program, sys.argv[0] = sys.argv[0], f"{name}.py"     # its messages name it, not us
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = step.main(argv)
        except SystemExit as exit_:                 # the step's option check (argparse)
            status = exit_.code
        finally:
            sys.argv[0] = program
    if name == "two_layer_net_compile" and "torch" in sys.modules:
        # torch 2.4's inductor builds its kernels with -ffast-math; with gcc before 13 their
        # library turns on flush-to-zero in the thread that loads it, this one: turn it off, so
        # that the steps after it compute, and numpy warns, as they do in a process of their own.
        sys.modules["torch"].set_flush_denormal(False)
    if status != 0:
        said = err.getvalue().strip().splitlines() or ["?"]
        raise StepFailedError(f"{name} {' '.join(argv)} failed: {said[-1]}")
    return [float(line.split()[1]) for line in out.getvalue().splitlines()]


def draw(losses, seed, path, pyplot):
    figure, axes = pyplot.subplots(figsize=(9, 5.5), dpi=100)
    for name, label, style in LADDER:
        axes.plot(losses[name], label=label, **style)
    axes.set_yscale("log")
    axes.set_xlabel("training step")
    axes.set_ylabel("loss (sum of squared errors)")
    axes.set_title(f"Loss of every step of the ladder, seed {seed}\n"
                   "steps 2, 3, 5 to 8, 10 and 11 start from the same numbers: their lines lie "
                   "on top of each other", fontsize=10)
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(fontsize=9)
    figure.tight_layout()
    figure.savefig(path, format="png")
    pyplot.close(figure)


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0,
                        help="seed for every step (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=500,
                        help="training steps of each run (default: %(default)s)")
    parser.add_argument("--output", default=os.path.join(HERE, "docs", "losses.png"),
                        help="where to write the PNG (default: docs/losses.png)")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    # The steps' own range checks, and their messages
    for option, value, ok, rule in [
            ("--seed", args.seed, 0 <= args.seed < 2**32, "from 0 to 2**32 - 1"),
            ("--steps", args.steps, args.steps >= 1, "at least 1")]:
        if not ok:
            parser.error(f"argument {option}: must be {rule}, got {value}")
    compiled = importlib.import_module("two_layer_net_compile")      # step 10, with inductor
    if compiled.cxx_compiler() is None:
        parser.error(f"step 10 compiles C++ on the CPU, and {compiled.why_no_cxx_compiler()}; "
                     "install a C++ compiler")
    folder = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(folder):
        parser.error(f"--output: the folder {folder} does not exist")
    if os.path.isdir(os.path.abspath(args.output)):
        parser.error(f"--output: {os.path.abspath(args.output)} is a folder; name the PNG file")
    try:
        import matplotlib
    except ImportError:
        print(f"{parser.prog}: needs matplotlib, which is not installed; "
              "install it with: pip install matplotlib", file=sys.stderr)
        return 2
    matplotlib.use("Agg")                            # draw to a file; no screen needed
    from matplotlib import pyplot

    try:
        losses = {name: run_step(name, args.seed, args.steps) for name, _, _ in LADDER}
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
    except StepFailedError as error:
        print(f"{parser.prog}: {error}", file=sys.stderr)
        return 1
    if not all(math.isfinite(loss) for values in losses.values() for loss in values):
        print(f"{parser.prog}: a run gave a non-finite loss", file=sys.stderr)
        return 1
    draw(losses, args.seed, args.output, pyplot)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
