"""How well one square's direction can be read from what `npm run rl:probe` wrote (numpy only).

    python3 scripts/rl/probe.py <prefix> [<prefix> ...] [--frames 0,15] [--test-last 512]
                                [--hidden 256] [--epochs 60] [--weight-decay 1e-2] [--seed 0]

Each square of each clip is one example: the clip's rows (only the given frames' part of them) and
the square's colour (one-hot) in, its direction (of 4) out. An MLP (one ReLU layer, Adam, decoupled
weight decay) learns on every clip but the last --test-last ones of the last prefix, which it is
scored on. It prints train and held-out accuracy for squares of one- and two-square clips every 10
epochs, then one JSON line. Chance is 25 %. A two-square clip's held-out figure says how much of the
binding of colour to motion the rows keep (the language model can do no better from them).
"""

import argparse
import json

import numpy as np

COLOURS = ["red", "green", "blue", "yellow"]
DIRECTIONS = ["left", "right", "up", "down"]


def load(prefix, frames):
    meta = json.load(open(prefix + ".json"))
    x = np.fromfile(prefix + ".f32", dtype=np.float32).reshape(len(meta["labels"]), meta["frames"], -1)
    if frames:
        x = x[:, frames]
    return x.reshape(len(x), -1), meta["labels"]


def examples(x, labels):
    xs, ys, two = [], [], []
    for row, clip in zip(x, labels):
        for sq in clip["squares"]:
            colour = np.zeros(4, np.float32)
            colour[COLOURS.index(sq["colour"])] = 3  # on the scale of the standardised rows
            xs.append(np.concatenate([row, colour]))
            ys.append(DIRECTIONS.index(sq["direction"]))
            two.append(len(clip["squares"]) == 2)
    return np.array(xs), np.array(ys), np.array(two)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("prefixes", nargs="+")
    p.add_argument("--frames", default="0,15")
    p.add_argument("--test-last", type=int, default=512)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--weight-decay", type=float, default=1e-2)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    frames = [int(f) for f in a.frames.split(",")] if a.frames else None

    parts = [load(prefix, frames) for prefix in a.prefixes]
    xs = [x for x, _ in parts]
    ls = [l for _, l in parts]
    k = a.test_last
    x_train = np.concatenate(xs[:-1] + [xs[-1][:-k]])
    l_train = sum(ls[:-1], []) + ls[-1][:-k]
    xtr, ytr, ttr = examples(x_train, l_train)
    xte, yte, tte = examples(xs[-1][-k:], ls[-1][-k:])
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd

    rng = np.random.default_rng(a.seed)
    d, h = xtr.shape[1], a.hidden
    params = [
        rng.normal(0, 1 / np.sqrt(d), (d, h)).astype(np.float32),
        np.zeros(h, np.float32),
        rng.normal(0, 1 / np.sqrt(h), (h, 4)).astype(np.float32),
        np.zeros(4, np.float32),
    ]
    m = [np.zeros_like(q) for q in params]
    v = [np.zeros_like(q) for q in params]
    w1, b1, w2, b2 = params

    def forward(x):
        hid = np.maximum(x @ w1 + b1, 0)
        return hid, hid @ w2 + b2

    def accuracy(x, y, mask):
        return float((forward(x)[1].argmax(1) == y)[mask].mean()) if mask.any() else None

    step = 0
    for epoch in range(1, a.epochs + 1):
        order = rng.permutation(len(xtr))
        for s in range(0, len(order), 64):
            i = order[s : s + 64]
            x, y = xtr[i], ytr[i]
            hid, z = forward(x)
            z = np.exp(z - z.max(1, keepdims=True))
            g = z / z.sum(1, keepdims=True)
            g[np.arange(len(y)), y] -= 1
            g /= len(y)
            gh = g @ w2.T
            gh[hid <= 0] = 0
            grads = [x.T @ gh, gh.sum(0), hid.T @ g, g.sum(0)]
            step += 1
            for j, (q, gr) in enumerate(zip(params, grads)):
                m[j] = 0.9 * m[j] + 0.1 * gr
                v[j] = 0.999 * v[j] + 0.001 * gr * gr
                mh, vh = m[j] / (1 - 0.9**step), v[j] / (1 - 0.999**step)
                q -= a.lr * (mh / (np.sqrt(vh) + 1e-8) + a.weight_decay * q)
        if epoch % 10 == 0 or epoch == a.epochs:
            r = {
                "epoch": epoch,
                "train_one": accuracy(xtr, ytr, ~ttr),
                "train_two": accuracy(xtr, ytr, ttr),
                "heldout_one": accuracy(xte, yte, ~tte),
                "heldout_two": accuracy(xte, yte, tte),
            }
            print(" ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items()))
    r.update(
        inputs=d - 4,
        frames=a.frames,
        train_examples=len(xtr),
        heldout_examples={"one": int((~tte).sum()), "two": int(tte.sum())},
        chance=0.25,
    )
    print(json.dumps(r))


if __name__ == "__main__":
    main()
