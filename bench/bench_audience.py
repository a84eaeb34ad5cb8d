"""The audience model (seed 004's "will viewers read it as meant?"): FER+'s 10 viewers per face, predicted
from the recognizer's embedding, against the recognizer's softmax and a constant prior.

    FACEANIM_DATA=../shared/data python bench/bench_audience.py

Trains faceanim.communicate.AudienceModel on FER+'s Training faces (the recognizer was trained on the same
faces, so nothing of PublicTest or PrivateTest is seen), chooses the head's settings on PublicTest, then
measures PrivateTest once. Writes weights/audience.pt (+ .json) and reports/audience.json + .png.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from _common import write_report

from faceanim._system import cpu_name
from faceanim.config import REPO_ROOT

GRID = [{"hidden": h, "epochs": e, "weight_decay": wd} for h in (128, 256) for e in (20, 40) for wd in (1e-3, 1e-2)]


def main() -> None:
    from tqdm.auto import tqdm

    from faceanim.communicate import AudienceModel, audience_metrics, softmax_as_votes, vote_distribution
    from faceanim.data import load_fer2013
    from faceanim.emotion import create_recognizer

    t0 = time.perf_counter()
    fer = load_fer2013()
    rec = create_recognizer()
    dist, valid = vote_distribution(fer.ferplus_votes)
    feats, probs = [], []
    for i in tqdm(range(0, len(fer.images), 512), desc="embedding"):
        f, p = rec.embed_and_predict(fer.images[i:i + 512])
        feats.append(f)
        probs.append(p)
    feats, probs = np.concatenate(feats), np.concatenate(probs)
    split = {s: (fer.usage == s) & valid for s in ("Training", "PublicTest", "PrivateTest")}
    tr = split["Training"]
    prior = dist[tr].mean(0, keepdims=True)
    choice = []
    for cfg in GRID:
        model = AudienceModel.fit(feats[tr], dist[tr], recognizer=rec.name, **cfg)
        m = audience_metrics(dist[split["PublicTest"]], model.predict(feats[split["PublicTest"]]))
        choice.append({**cfg, **m})
        print(cfg, {k: round(v, 4) for k, v in m.items()}, flush=True)
    best = min(choice, key=lambda c: c["kl"])
    cfg = {k: best[k] for k in ("hidden", "epochs", "weight_decay")}
    model = AudienceModel.fit(feats[tr], dist[tr], recognizer=rec.name, **cfg)
    results = {}
    for s in ("PublicTest", "PrivateTest"):
        m = split[s]
        results[s] = {"audience_model": audience_metrics(dist[m], model.predict(feats[m])),
                      "recognizer_softmax": audience_metrics(dist[m], softmax_as_votes(probs[m])),
                      "constant_prior": audience_metrics(dist[m], np.repeat(prior, m.sum(), 0))}
        print(s, results[s], flush=True)
    command = "python bench/bench_audience.py " + " ".join(sys.argv[1:])
    model.save(command=command.strip(), hardware=cpu_name(), chosen_on="PublicTest", **cfg,
               recognizer_sha256=rec.metadata.get("sha256", ""))
    pr = results["PrivateTest"]
    report = {
        "cpu": cpu_name(), "command": command.strip(), "recognizer": rec.name,
        "faces": {s: int(m.sum()) for s, m in split.items()}, "chosen": cfg, "grid_on_public": choice,
        "results": results,
        "reached": {
            "kl_beats_both_baselines": pr["audience_model"]["kl"] < min(pr["recognizer_softmax"]["kl"],
                                                                       pr["constant_prior"]["kl"]),
            "agreement_correlation_beats_both": pr["audience_model"]["agreement_pearson"] > max(
                pr["recognizer_softmax"]["agreement_pearson"], pr["constant_prior"]["agreement_pearson"]),
        },
        "seconds": round(time.perf_counter() - t0, 1),
    }
    pv = {"actual": dist[split["PrivateTest"]].max(1), "model": model.predict(feats[split["PrivateTest"]]).max(1),
          "softmax": probs[split["PrivateTest"]].max(1)}
    write_report(report, REPO_ROOT / "reports" / "audience.json", lambda rep, path: plot(rep, path, pv))


def plot(report: dict, path: Path, pv: dict) -> None:
    import matplotlib.pyplot as plt

    r = report["results"]["PrivateTest"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    names = list(r)
    axes[0].bar(names, [r[n]["kl"] for n in names], color=["C0", "C1", "C7"])
    axes[0].set_ylabel("KL(viewers || predicted), nats")
    axes[0].set_title("PrivateTest: vote distributions", fontsize=9)
    plt.setp(axes[0].get_xticklabels(), fontsize=8)
    for ax, key, label in ((axes[1], "model", "audience model"), (axes[2], "softmax", "recognizer softmax")):
        actual = np.asarray(pv["actual"])
        jitter = np.random.default_rng(0).uniform(-0.04, 0.04, len(actual))
        ax.scatter(actual + jitter, pv[key], s=2, alpha=0.3)
        ax.plot([0, 1], [0, 1], "k:", lw=1)
        ax.set_xlabel("viewers naming the majority (FER+)")
        ax.set_ylabel(f"predicted agreement ({label})")
        name = "audience_model" if key == "model" else "recognizer_softmax"
        ax.set_title(f"{label}: Pearson {r[name]['agreement_pearson']:.3f}", fontsize=9)
    fig.suptitle(f"audience model ({report['cpu']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
