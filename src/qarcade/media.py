"""Things people would rather look at than read: videos, notebook animations, plots."""

from __future__ import annotations

# --- video ---

# --- plots ---


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curve(metrics, path, *, goal=None, window=50, title=""):
    """Reward per training episode (dots) and its moving mean over ``window`` episodes, against
    env steps, from a run's metrics.csv as a DataFrame; saved as a PNG at ``path``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot(metrics["step"], metrics["reward"], ".", ms=2, alpha=0.3, label="episode")
    moving = metrics["reward"].rolling(window, min_periods=1).mean()
    ax.plot(metrics["step"], moving, lw=2, label=f"mean of last {window}")
    if goal is not None:
        ax.axhline(goal, color="k", ls="--", lw=1, label=f"goal {goal:g}")
    ax.set_xlabel("env steps")
    ax.set_ylabel("reward per episode")
    ax.set_title(title)
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_curves_with_bands(curves, path, *, goal=None, xlabel="env steps", title=""):
    """One line per label with a shaded band: ``curves`` maps label -> (x (T,), mean (T,),
    low (T,), high (T,)), e.g. a mean over seeds and its confidence interval."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for label, (x, mean, low, high) in curves.items():
        (line,) = ax.plot(x, mean, lw=2, label=label)
        ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2)
    if goal is not None:
        ax.axhline(goal, color="k", ls="--", lw=1, label=f"goal {goal:g}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("reward per episode")
    ax.set_title(title)
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
