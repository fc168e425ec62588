"""The JAX peer of Dimple's native reference training workload (PERFORMANCE.md).

The same MLP 784-256-256-10 as Dimple's model (input standardised with the MNIST pixel
statistics, ReLU, softmax cross-entropy), Adam (lr 1e-3, betas 0.9/0.999, epsilon 1e-5 as
burn's default), batch 128, no augmentation, on the same 12,000 training images read from
static/data/mnist-bundle.dmpl.zlib. The training set lives on the device; each step is one
jit-compiled function that gathers its batch, takes the gradient and applies Adam; the loss
is read back after every step (float(loss)), as Dimple's bench-train does. One warm-up
epoch, then three timed epochs (only the steps are timed); median of the runs. Prints one
JSON line. Run by `make bench` (e2e/bench.mjs) in the venv that bench/requirements.txt pins.

Usage: python bench/jax_mlp.py [--runs N] [--data PATH]
"""

import argparse
import json
import os
import statistics
import struct
import time
import zlib

import jax
import jax.numpy as jnp
import numpy as np

BATCH = 128
HIDDEN = 256
LEARNING_RATE = 1e-3
BETA1, BETA2, EPSILON = 0.9, 0.999, 1e-5
PIXEL_MEAN, PIXEL_STD = 0.1307, 0.3081
HEADER_LEN = 64


def decode_bundle(path):
    """Reads a Dimple dataset file as shipped (zlib-packed; layout in src/ml/dataset.rs);
    returns the train and test splits as (pixels in [0, 1] of shape [count, image_len],
    labels)."""
    data = open(path, "rb").read()
    if data[:8] != b"DIMPLEDS":
        data = zlib.decompress(data)
    if data[:8] != b"DIMPLEDS":
        raise ValueError(f"{path}: not a Dimple dataset file")
    version, height, width, channels, classes, train, test, names = struct.unpack_from("<8I", data, 8)
    if version != 1:
        raise ValueError(f"{path}: format version {version} is not 1")
    image_len = height * width * channels
    expected = HEADER_LEN + names + (train + test) * (image_len + 1)
    if len(data) != expected:
        raise ValueError(f"{path}: {len(data)} bytes, expected {expected}")
    at = HEADER_LEN + names
    splits = []
    for count in (train, test):
        labels = np.frombuffer(data, np.uint8, count, at).astype(np.int32)
        pixels = np.frombuffer(data, np.uint8, count * image_len, at + count)
        splits.append((pixels.reshape(count, image_len).astype(np.float32) / 255.0, labels))
        at += count * (image_len + 1)
    return splits, classes


def init(key, sizes):
    """burn's Linear default: weights and biases uniform in +-1/sqrt(fan_in)."""
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        key, kw, kb = jax.random.split(key, 3)
        bound = 1.0 / np.sqrt(fan_in)
        params.append(jax.random.uniform(kw, (fan_in, fan_out), jnp.float32, -bound, bound))
        params.append(jax.random.uniform(kb, (fan_out,), jnp.float32, -bound, bound))
    return params


def forward(params, images):
    w1, b1, w2, b2, w3, b3 = params
    x = (images - PIXEL_MEAN) / PIXEL_STD
    h = jax.nn.relu(x @ w1 + b1)
    h = jax.nn.relu(h @ w2 + b2)
    return h @ w3 + b3


def loss_fn(params, images, labels):
    logits = forward(params, images)
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=1))


@jax.jit
def step(params, m, v, t, train_x, train_y, batch):
    loss, grads = jax.value_and_grad(loss_fn)(params, train_x[batch], train_y[batch])
    t = t + 1
    m = [BETA1 * a + (1 - BETA1) * g for a, g in zip(m, grads)]
    v = [BETA2 * a + (1 - BETA2) * g * g for a, g in zip(v, grads)]
    scale = LEARNING_RATE * jnp.sqrt(1 - BETA2**t) / (1 - BETA1**t)
    params = [p - scale * a / (jnp.sqrt(b) + EPSILON) for p, a, b in zip(params, m, v)]
    return params, m, v, t, loss


def run(train, test, seed, warmup_epochs=1, timed_epochs=3):
    train_x, train_y = (jax.device_put(a) for a in train)
    params = init(jax.random.PRNGKey(seed), [train[0].shape[1], HIDDEN, HIDDEN, 10])
    m = [jnp.zeros_like(p) for p in params]
    v = [jnp.zeros_like(p) for p in params]
    t = jnp.zeros((), jnp.float32)
    order_rng = np.random.default_rng(seed)
    n = train[0].shape[0]
    timed, examples = 0.0, 0
    for epoch in range(warmup_epochs + timed_epochs):
        order = order_rng.permutation(n).astype(np.int32)
        for start in range(0, n, BATCH):
            started = time.perf_counter()
            batch = order[start : start + BATCH]
            params, m, v, t, loss = step(params, m, v, t, train_x, train_y, batch)
            loss = float(loss)
            if not np.isfinite(loss):
                raise RuntimeError(f"loss became {loss}")
            if epoch >= warmup_epochs:
                timed += time.perf_counter() - started
                examples += len(batch)
    predicted = np.asarray(jnp.argmax(forward(params, jnp.asarray(test[0])), axis=1))
    return examples / timed, 100.0 * float(np.mean(predicted == test[1]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", default=os.path.join("static", "data", "mnist-bundle.dmpl.zlib"))
    args = parser.parse_args()
    (train, test), _ = decode_bundle(args.data)
    speeds, accuracy = [], 0.0
    for r in range(args.runs):
        speed, accuracy = run(train, test, seed=r + 1)
        speeds.append(speed)
    print(
        json.dumps(
            {
                "examples_per_s_median": round(statistics.median(speeds)),
                "examples_per_s_runs": [round(s) for s in speeds],
                "test_accuracy": round(accuracy, 2),
                "jax": jax.__version__,
                "device": str(jax.devices()[0]),
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
