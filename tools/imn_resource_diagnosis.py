"""What IMN-Net's resource-limited state h^l (Eq. 6) holds while it trains, on the planted
resource-limited stream of the claim checks (CLAIMS.md, imn_net: IMN-Net > IMN-Net* failed in
the first record).

    python tools/imn_resource_diagnosis.py [--seed 0] [--epochs 4] [--windows 500] [--quick]

Before training and after each epoch, over the training interactions in time order (no
learning), at every purchase (the only events that move h^l):

* ``pre_mean``, ``saturated``: the mean pre-activation of Eq. (6) and the share of h^l's units
  at the activation's ends (|pre| > 4.6: sigmoid < 0.01 or > 0.99);
* ``hl_var``: the variance of h^l across purchases (per unit, mean), i.e. how much it moves;
* ``probe_r2``: R^2 of a ridge probe of the budget share (budget / capacity, after the
  purchase) from h^l, fitted and read on the same purchases (how much budget h^l holds, at most).

``followed_in_window``: the share of training purchases followed by their user's next
interaction in the same time window (only through one can Eq. (6)'s kernel learn: the states
are detached between windows).

And, at initialisation, each loss term's pull on h^l: the first-order change of the mean
pre-activation at the purchases under one unit step against that term's gradient with respect
to Eq. (6)'s kernel, summed over the first 150 training windows (``pull_*``; the lambdas of the
config applied).
"""
from __future__ import annotations

import argparse
import time

import tfrec_pkg  # noqa: F401  (selects the Keras 2 API before TensorFlow loads)
import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec_pkg.data.synthetic.resource_limited import resource_limited
from tfrec_pkg.data.tbatch_windows import WindowedStream
from tfrec_pkg.models import registry
from tfrec_pkg.models.imn import IMNNet
from tfrec_pkg.training import train

STEP_COLUMNS = ("user", "item", "user_delta", "item_delta", "user_since_purchase", "is_purchase", "features")
TERMS = {"prediction": "lambda_m", "nce": "lambda_n", "user_drift": "lambda_u", "item_drift": "lambda_i"}


def steps(stream):
    """Every t-batch of the training windows, in time order: (window index, row indices)."""
    for w, (rows, splits) in enumerate(stream.window_steps(("train",), order="time")):
        for lo, hi in zip(splits[:-1], splits[1:]):
            yield w, rows[lo:hi]


def columns(stream, rows) -> dict:
    return {name: tf.constant(stream.columns[name][rows]) for name in STEP_COLUMNS}


def eq6_inputs(model, tables, step) -> np.ndarray:
    """Eq. (6)'s input [h^l, h^g', h_i', u_bar, i_bar, Delta_p, v] of the step's purchases, in
    the order of ResourceLimitedCell's kernel blocks."""
    users_t, limited_t, items_t, _ = tables
    bought = step["is_purchase"] > 0
    u, i = tf.boolean_mask(step["user"], bought), tf.boolean_mask(step["item"], bought)
    delta = lambda name: tf.boolean_mask(step[name], bought)  # noqa: E731
    v = tf.boolean_mask(step["features"], bought) if model.num_features else None
    new_u, new_i = model.mrrnn(tf.gather(users_t, u), tf.gather(items_t, i), delta("user_delta"),
                               delta("item_delta"), v)
    parts = [tf.gather(limited_t, u), new_u, new_i, model.user_static(u), model.item_static(i),
             tf.cast(delta("user_since_purchase"), tf.float32)[:, None]] + ([v] if v is not None else [])
    return tf.concat(parts, -1).numpy()


def state_at_purchases(model, stream, budget) -> dict:
    model.reset_states()
    tables, inputs, states, rows = model._tables(), [], [], []
    for _, r in steps(stream):
        step = columns(stream, r)
        bought = stream.columns["is_purchase"][r] > 0
        if bought.any():
            inputs.append(eq6_inputs(model, tables, step))
        tables = model.process_step(tables, step)[0]
        if bought.any():
            states.append(tf.gather(tables[1], stream.columns["user"][r][bought]).numpy())
            rows.append(r[bought])
    pre = np.concatenate(inputs) @ model.resource.limited_update.kernel.numpy()
    h, y = np.concatenate(states), budget[np.concatenate(rows)]
    x = np.c_[h, np.ones(len(h))]
    w = np.linalg.solve(x.T @ x + np.eye(x.shape[1]), x.T @ y)
    return {"pre_mean": pre.mean(), "saturated": np.mean(np.abs(pre) > 4.6), "hl_var": h.var(0).mean(),
            "probe_r2": 1 - np.mean((y - x @ w) ** 2) / np.var(y)}


def followed_in_window(stream) -> float:
    window = np.full(len(stream.columns["user"]), -1)
    for w, r in steps(stream):
        window[r] = w
    rows = np.flatnonzero(window >= 0)
    user = stream.columns["user"]
    rows = rows[np.lexsort((rows, user[rows]))]   # each user's interactions in time order
    same_user = user[rows][1:] == user[rows][:-1]
    followed = np.r_[same_user & (window[rows][1:] == window[rows][:-1]), False]
    return float(followed[stream.columns["is_purchase"][rows] > 0].mean())


def pulls(model, stream, windows: int = 150) -> dict:
    """Each loss term's first-order pull on the mean pre-activation of Eq. (6) at the purchases."""
    config, kernel = model.config, model.resource.limited_update.kernel
    grads = {term: np.zeros(kernel.shape) for term in TERMS}
    model.reset_states()
    tables, inputs, tape, sums, current = model._tables(), [], None, None, -1

    def close():
        if tape is not None:
            for term, total in sums.items():
                g = tape.gradient(total, kernel)
                grads[term] += 0.0 if g is None else getattr(config, TERMS[term]) * g.numpy()

    for w, r in steps(stream):
        if w != current:   # a window: gradients through its own state updates (as training)
            close()
            if w == windows:
                break
            current, tape, sums = w, tf.GradientTape(persistent=True), dict.fromkeys(TERMS, 0.0)
        step = columns(stream, r)
        if (stream.columns["is_purchase"][r] > 0).any():
            inputs.append(eq6_inputs(model, tables, step))
        with tape:
            tables, terms, _, _ = model.process_step(tables, step)
            for term in TERMS:
                sums[term] += tf.reduce_mean(terms[term])
    x = np.concatenate(inputs)
    return {f"pull_{term}": float(-(x @ g).mean()) for term, g in grads.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--windows", type=int, default=None, help="time windows (default: the planted config's, 500)")
    parser.add_argument("--quick", action="store_true", help="the quick stream (100 users, 10k interactions)")
    args = parser.parse_args(argv)
    sizes = dict(num_users=100, num_items=200, num_events=10_000) if args.quick else \
        dict(num_users=200, num_items=400, num_events=20_000)
    data = resource_limited(**sizes, seed=args.seed)
    config = registry.entry("imn_net").planted_config()
    config = config.replace(windows=args.windows) if args.windows else config
    stream = WindowedStream.from_stream(data, parts=config.windows)
    train_split, val_split, _ = stream.splits()
    frame = data.frame
    capacity = data.world["capacity"][frame["user_id"].to_numpy() - frame["user_id"].min()]
    budget = (frame["true_budget"] - frame["price"] * frame["action"]).to_numpy() / capacity
    tf.keras.utils.set_random_seed(args.seed)
    model = IMNNet(config, train_split.vocab, **train_split.model_options)
    model.adapt(train_split)
    print(f"IMN-Net, planted stream {sizes}, {config.windows} windows, seed {args.seed}; about "
          f"{1 + args.epochs} min on 2 cores", flush=True)
    print(f"followed_in_window {followed_in_window(stream):.3f}")
    print(pd.Series(pulls(model, stream)).to_string(float_format="{:+.4g}".format), flush=True)
    rows = [{"epoch": 0, **state_at_purchases(model, stream, budget)}]
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        history = train(model, train_split, val_split, epochs=1, verbose=0).history
        rows.append({"epoch": epoch, "val_mrr": history["val_mrr"][-1], "seconds": time.perf_counter() - start,
                     **state_at_purchases(model, stream, budget)})
    print(pd.DataFrame(rows).round(4).to_string(index=False))


if __name__ == "__main__":
    main()
