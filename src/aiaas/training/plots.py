"""Evaluation plots drawn to PNG with matplotlib's Agg backend (no display, thread-safe figures).

Each function writes one file and returns its path. Names used by jobs: ``confusion_matrix``,
``roc_curve``, ``training_curve``, ``predicted_vs_actual``, ``forecast``, ``feature_importance``,
``influential_words``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

PART = "test split"
"""What the plotted rows are, in the titles; an evaluation on every row says ``all rows``."""


def _figure(size: tuple[float, float] = (6.0, 5.0)) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=size, dpi=100)


def _save(figure: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path


def confusion_matrix(matrix: list[list[int]], labels: list[str], path: Path, *,
                     part: str = PART) -> Path:
    """Rows are true labels, columns predicted ones; each cell shows its count."""
    values = np.asarray(matrix)
    size = max(5.0, 0.5 * len(labels) + 3)
    figure = _figure((size, size * 0.85))
    axes = figure.add_subplot()
    image = axes.imshow(values, cmap="Blues")
    figure.colorbar(image, ax=axes)
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"Confusion matrix ({part})")
    threshold = values.max() / 2 if values.size else 0
    for (row, column), count in np.ndenumerate(values):
        axes.text(column, row, str(count), ha="center", va="center",
                  color="white" if count > threshold else "black")
    return _save(figure, path)


def roc_curve(y_true: np.ndarray[Any, Any], scores: np.ndarray[Any, Any], auc: float,
              path: Path, *, part: str = PART) -> Path:
    from sklearn.metrics import roc_curve as sk_roc_curve

    fpr, tpr, _ = sk_roc_curve(y_true, scores)
    figure = _figure()
    axes = figure.add_subplot()
    axes.plot(fpr, tpr, label=f"ROC (AUC = {auc:.3f})")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    axes.set_xlabel("false positive rate")
    axes.set_ylabel("true positive rate")
    axes.set_title(f"ROC curve ({part})")
    axes.legend(loc="lower right")
    return _save(figure, path)


def training_curve(curves: dict[str, list[float]], path: Path, *, x_label: str = "boosting stage"
                   ) -> Path:
    """One line per named series over boosting stages, or epochs (``x_label="epoch"``)."""
    figure = _figure((7.0, 4.5))
    axes = figure.add_subplot()
    for name, values in curves.items():
        axes.plot(range(1, len(values) + 1), values, label=name)
    axes.set_xlabel(x_label)
    axes.set_title("Training curve")
    axes.legend()
    return _save(figure, path)


def feature_importance(importance: dict[str, dict[str, float]], path: Path, *,
                       part: str = PART, most: int = 15) -> Path:
    """The features whose shuffling hurt the score most, with the spread over repeats."""
    names = list(importance)[:most][::-1]
    figure = _figure((7.0, 0.35 * len(names) + 1.5))
    axes = figure.add_subplot()
    axes.barh(names, [importance[n]["mean"] for n in names],
              xerr=[importance[n]["std"] for n in names], color="#4477aa")
    axes.set_xlabel("drop in score when the feature is shuffled")
    axes.set_title(f"Permutation feature importance ({part})")
    return _save(figure, path)


WORD_PANELS = 12
"""Classes drawn by ``influential_words`` (the result lists every class)."""


def influential_words(words: dict[str, list[dict[str, Any]]], path: Path, *, part: str = PART
                      ) -> Path:
    """One panel of horizontal bars per class (the first ``WORD_PANELS``): its most influential
    words, the most at the top, each bar its mean attribution over the texts it occurs in."""
    classes = list(words)[:WORD_PANELS]
    columns = min(3, max(1, len(classes)))
    rows = -(-max(1, len(classes)) // columns)
    tallest = max([len(found) for found in words.values()] + [1])
    figure = _figure((4.2 * columns, (0.3 * tallest + 1.2) * rows + 0.6))
    for index, label in enumerate(classes):
        axes = figure.add_subplot(rows, columns, index + 1)
        found = words[label][::-1]
        axes.barh([entry["word"] for entry in found], [entry["attribution"] for entry in found],
                  color="#4477aa")
        axes.set_title(str(label))
        axes.set_xlabel("mean attribution")
        if not found:
            axes.text(0.5, 0.5, "no word seen in 2+ texts", ha="center", va="center",
                      transform=axes.transAxes, color="grey")
    figure.suptitle(f"Most influential words per class ({part})")
    return _save(figure, path)


def explanations(found: dict[str, Any], plot_dir: Path, *, part: str = PART) -> list[str]:
    """The plots of the global explanations in ``found`` (``feature_importance``,
    ``influential_words``); returns the names drawn."""
    names = []
    if "feature_importance" in found:
        feature_importance(found["feature_importance"], plot_dir / "feature_importance.png",
                           part=part)
        names.append("feature_importance")
    if "influential_words" in found:
        influential_words(found["influential_words"], plot_dir / "influential_words.png",
                          part=part)
        names.append("influential_words")
    return names


def predicted_vs_actual(y_true: np.ndarray[Any, Any], y_pred: np.ndarray[Any, Any],
                        path: Path, *, part: str = PART) -> Path:
    figure = _figure()
    axes = figure.add_subplot()
    axes.scatter(y_true, y_pred, s=12, alpha=0.7)
    low, high = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    axes.plot([low, high], [low, high], linestyle="--", color="grey")
    axes.set_xlabel("actual")
    axes.set_ylabel("predicted")
    axes.set_title(f"Predicted vs actual ({part})")
    return _save(figure, path)


def forecast(history: tuple[Any, np.ndarray[Any, Any]], actual: tuple[Any, np.ndarray[Any, Any]],
             predicted: np.ndarray[Any, Any], band: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]],
             level: float, path: Path) -> Path:
    """The tail of the series the model saw, the held-out actuals, the forecast at the same
    timestamps and its prediction interval as a band; ``history`` and ``actual`` are
    (timestamps, values) pairs."""
    figure = _figure((9.0, 4.5))
    axes = figure.add_subplot()
    axes.plot(history[0], history[1], color="grey", linewidth=1, label="history")
    axes.fill_between(actual[0], band[0], band[1], color="tab:blue", alpha=0.2,
                      label=f"{level:.0%} interval")
    axes.plot(actual[0], actual[1], color="black", linewidth=1.2, label="actual (test)")
    axes.plot(actual[0], predicted, color="tab:blue", linewidth=1.5, label="forecast")
    axes.set_xlabel("time")
    axes.set_title("Forecast vs actual (test split)")
    axes.legend(loc="upper left")
    figure.autofmt_xdate()
    return _save(figure, path)


def classification(metrics: dict[str, Any], labels: list[str], y_true: np.ndarray[Any, Any],
                   probabilities: np.ndarray[Any, Any] | None, plot_dir: Path, *,
                   part: str = PART) -> list[str]:
    """The confusion matrix, and the ROC curve when ``metrics`` has ROC-AUC (two classes,
    ``labels[1]`` positive); returns the plot names drawn."""
    confusion_matrix(metrics["confusion_matrix"]["matrix"], labels, plot_dir / "confusion_matrix.png",
                     part=part)
    names = ["confusion_matrix"]
    if "roc_auc" in metrics and probabilities is not None:
        roc_curve(y_true == labels[1], probabilities[:, 1], metrics["roc_auc"],
                  plot_dir / "roc_curve.png", part=part)
        names.append("roc_curve")
    return names
