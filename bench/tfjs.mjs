// The TensorFlow.js peer of Dimple's reference training workload (PERFORMANCE.md): the same
// MLP 784-256-256-10 (input standardised with the MNIST pixel statistics as in Dimple's model,
// ReLU, softmax cross-entropy), Adam (lr 1e-3, betas 0.9/0.999, epsilon 1e-5 as burn's
// default), batch 128, no augmentation, on the same 12,000 training images read from
// static/data/mnist-bundle.dmpl.zlib. Each step gathers its batch on the backend from the
// device-resident training set, takes one optimiser step and reads the loss back
// (`await loss.data()`), as Dimple's page does. Only the steps are timed (Dimple's page
// times its steps the same way), so evaluation and set-up are left out.
//
// window.tfjsBench({ backend, runs, warmupEpochs, timedEpochs }) trains `runs` times and
// returns the median speed; with `warmupMs` and `windowMs` instead of epochs it counts steps
// over a time window (for the slow emulated GPU backends).
//
// window.tfjsAttackView({ backend, runs }) times the attack view: tangent basis, PGD, the four
// views and the slice, as the Dimple page computes them.

/* global tf */

const BATCH = 128;
const HIDDEN = 256;
const LEARNING_RATE = 1e-3;
const PIXEL_MEAN = 0.1307;
const PIXEL_STD = 0.3081;
const WASM_DIR = '/node_modules/@tensorflow/tfjs-backend-wasm/dist/';

// Decodes a Dimple dataset file (layout in src/ml/dataset.rs): header, class names, then
// each split's labels and pixels. The checksum is not recomputed; every size is checked.
export function decodeBundle(buffer) {
  const bytes = new Uint8Array(buffer);
  const magic = new TextDecoder().decode(bytes.subarray(0, 8));
  if (magic !== 'DIMPLEDS') throw new Error('not a Dimple dataset file');
  const view = new DataView(buffer);
  const word = (i) => view.getUint32(8 + 4 * i, true);
  if (word(0) !== 1) throw new Error(`dataset format version ${word(0)} is not 1`);
  const [height, width, channels, classes, trainCount, testCount, namesLen] = [1, 2, 3, 4, 5, 6, 7].map(word);
  const imageLen = height * width * channels;
  const headerLen = 64;
  const expected = headerLen + namesLen + (trainCount + testCount) * (imageLen + 1);
  if (bytes.length !== expected) throw new Error(`dataset file has ${bytes.length} bytes, expected ${expected}`);
  let at = headerLen + namesLen;
  const split = (count) => {
    const labels = bytes.subarray(at, at + count);
    const pixels = bytes.subarray(at + count, at + count + count * imageLen);
    at += count * (imageLen + 1);
    return { count, labels, pixels };
  };
  const train = split(trainCount);
  const test = split(testCount);
  return { imageLen, classes, train, test };
}

// Seeded generator (mulberry32) for the weights and the batch order.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle(order, random) {
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
}

// burn's Linear default: weights and biases uniform in ±1/sqrt(fan_in).
function linear(fanIn, fanOut, random) {
  const bound = 1 / Math.sqrt(fanIn);
  const values = (n) => Float32Array.from({ length: n }, () => (2 * random() - 1) * bound);
  // Variables outlive tidy; the tensors they copy do not.
  return tf.tidy(() => [tf.variable(tf.tensor2d(values(fanIn * fanOut), [fanIn, fanOut])), tf.variable(tf.tensor1d(values(fanOut)))]);
}

function forward(params, images) {
  const [w1, b1, w2, b2, w3, b3] = params;
  const x = tf.div(tf.sub(images, PIXEL_MEAN), PIXEL_STD);
  const h1 = tf.relu(tf.add(tf.matMul(x, w1), b1));
  const h2 = tf.relu(tf.add(tf.matMul(h1, w2), b2));
  return tf.add(tf.matMul(h2, w3), b3);
}

// Uploads a split: pixels in [0, 1] as [count, imageLen] and one-hot labels.
function upload(split, imageLen, classes) {
  const pixels = new Float32Array(split.pixels.length);
  for (let i = 0; i < pixels.length; i++) pixels[i] = split.pixels[i] / 255;
  return {
    images: tf.tensor2d(pixels, [split.count, imageLen]),
    onehot: tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(Int32Array.from(split.labels), 'int32'), classes), 'float32')),
    labels: split.labels,
  };
}

async function selectBackend(name) {
  if (name === 'wasm') tf.wasm.setWasmPaths(WASM_DIR);
  const ok = await tf.setBackend(name).catch(() => false);
  if (!ok) return { ok: false };
  await tf.ready();
  const info = { ok: true, backend: tf.getBackend() };
  if (name === 'wasm') {
    info.simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    info.threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
  }
  if (name === 'webgpu' && navigator.gpu) {
    const adapter = await navigator.gpu.requestAdapter();
    const a = adapter?.info ?? {};
    info.adapter = `${a.vendor ?? '?'} ${a.architecture ?? '?'}${adapter?.isFallbackAdapter || a.isFallbackAdapter ? ' fallback adapter' : ''}`;
  }
  return info;
}

let data = null;

export async function loadData() {
  if (data) return data;
  const response = await fetch('/static/data/mnist-bundle.dmpl.zlib');
  if (!response.ok) throw new Error(`bundle: HTTP ${response.status}`);
  // Shipped zlib-packed, as the page reads it (src/ml/dataset.rs).
  const unpacked = response.body.pipeThrough(new DecompressionStream('deflate'));
  data = decodeBundle(await new Response(unpacked).arrayBuffer());
  return data;
}

// One training run; returns the examples per second over the timed steps and the test
// accuracy afterwards.
async function trainRun(train, test, seed, plan) {
  const random = rng(seed);
  const params = [...linear(784, HIDDEN, random), ...linear(HIDDEN, HIDDEN, random), ...linear(HIDDEN, 10, random)];
  const optimizer = tf.train.adam(LEARNING_RATE, 0.9, 0.999, 1e-5);
  const n = train.labels.length;
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const stepsPerEpoch = Math.ceil(n / BATCH);
  const started = performance.now();
  let [timedMs, timedExamples, timedSteps, lastLoss, firstLoss] = [0, 0, 0, NaN, NaN];
  const timing = (epoch) =>
    plan.windowMs ? performance.now() - started >= plan.warmupMs : epoch >= plan.warmupEpochs;
  const done = (epoch) =>
    plan.windowMs ? timedMs >= plan.windowMs : epoch >= plan.warmupEpochs + plan.timedEpochs;
  for (let epoch = 0; !done(epoch); epoch++) {
    shuffle(order, random);
    for (let s = 0; s < stepsPerEpoch && !done(epoch); s++) {
      const timed = timing(epoch);
      const t0 = performance.now();
      const batch = tf.tensor1d(order.subarray(s * BATCH, Math.min(n, (s + 1) * BATCH)), 'int32');
      const loss = optimizer.minimize(
        () => tf.losses.softmaxCrossEntropy(tf.gather(train.onehot, batch), forward(params, tf.gather(train.images, batch))),
        true,
        params,
      );
      lastLoss = (await loss.data())[0];
      const examples = batch.shape[0];
      batch.dispose();
      loss.dispose();
      if (!Number.isFinite(lastLoss)) throw new Error(`loss became ${lastLoss}`);
      if (Number.isNaN(firstLoss)) firstLoss = lastLoss;
      if (timed) {
        timedMs += performance.now() - t0;
        timedExamples += examples;
        timedSteps++;
      }
    }
  }
  const predicted = tf.tidy(() => tf.argMax(forward(params, test.images), 1));
  const p = await predicted.data();
  predicted.dispose();
  let correct = 0;
  for (let i = 0; i < p.length; i++) correct += p[i] === test.labels[i] ? 1 : 0;
  optimizer.dispose();
  params.forEach((v) => v.dispose());
  return {
    examplesPerSecond: timedExamples / (timedMs / 1000),
    timedSteps,
    timedSeconds: timedMs / 1000,
    wallSeconds: (performance.now() - started) / 1000,
    firstLoss,
    lastLoss,
    testAccuracy: (100 * correct) / p.length,
  };
}

window.tfjsBench = async ({ backend, runs = 3, warmupEpochs = 1, timedEpochs = 3, warmupMs = 0, windowMs = 0 }) => {
  const info = await selectBackend(backend);
  if (!info.ok) return { backend, error: `tfjs backend ${backend} is not available in this browser` };
  const { imageLen, classes, train, test } = await loadData();
  const trainSet = upload(train, imageLen, classes);
  const testSet = upload(test, imageLen, classes);
  const results = [];
  for (let run = 0; run < runs; run++) {
    results.push(await trainRun(trainSet, testSet, run + 1, { warmupEpochs, timedEpochs, warmupMs, windowMs }));
  }
  for (const set of [trainSet, testSet]) [set.images, set.onehot].forEach((t) => t.dispose());
  const speeds = results.map((r) => r.examplesPerSecond).sort((a, b) => a - b);
  return {
    ...info,
    version: tf.version_core,
    median: speeds[Math.floor(speeds.length / 2)],
    runs: results,
    tensorsLeft: tf.memory().numTensors,
  };
};

// ---- The attack view, the same computation as Dimple's page (src/web/attack.rs, src/ml/
// manifold.rs, attack.rs, slice.rs) with weights of the same shapes (untrained: the cost does
// not depend on the values, since every step count is fixed). ----

// Dimple's conv autoencoder: two stride-2 3×3 convolutions (16, 32 channels) and a linear
// layer to the k-dimensional code; the decoder mirrors it with transposed convolutions and
// ends in a sigmoid. NHWC, tfjs's native layout.
function convAutoencoder(k, random) {
  const u = (shape, fanIn) => {
    const bound = 1 / Math.sqrt(fanIn);
    const n = shape.reduce((a, b) => a * b, 1);
    return tf.tensor(Float32Array.from({ length: n }, () => (2 * random() - 1) * bound), shape);
  };
  const flat = 7 * 7 * 32;
  return {
    enc1: [u([3, 3, 1, 16], 9), u([16], 9)],
    enc2: [u([3, 3, 16, 32], 144), u([32], 144)],
    encFc: [u([flat, k], flat), u([k], flat)],
    decFc: [u([k, flat], k), u([flat], k)],
    dec1: [u([3, 3, 16, 32], 288), u([16], 288)],
    dec2: [u([3, 3, 1, 16], 144), u([1], 144)],
  };
}

function encode(ae, images) {
  const b = images.shape[0];
  let x = tf.reshape(images, [b, 28, 28, 1]);
  x = tf.relu(tf.add(tf.conv2d(x, ae.enc1[0], 2, 'same'), ae.enc1[1]));
  x = tf.relu(tf.add(tf.conv2d(x, ae.enc2[0], 2, 'same'), ae.enc2[1]));
  return tf.add(tf.matMul(tf.reshape(x, [b, 7 * 7 * 32]), ae.encFc[0]), ae.encFc[1]);
}

// The decoder Jacobian at z [1, k] as [n, k], in forward mode as Dimple computes it: the k unit
// directions travel through the decoder beside z, each layer applying its linear part to them
// and each activation its derivative at z.
function decoderJacobian(ae, z) {
  const k = z.shape[1];
  const open = (h) => tf.cast(tf.greater(h, 0), 'float32');
  const up1 = (v, b) => tf.conv2dTranspose(v, ae.dec1[0], [b, 14, 14, 16], 2, 'same');
  const up2 = (v, b) => tf.reshape(tf.conv2dTranspose(v, ae.dec2[0], [b, 28, 28, 1], 2, 'same'), [b, 784]);
  let h = tf.add(tf.matMul(z, ae.decFc[0]), ae.decFc[1]);
  let t = tf.mul(tf.matMul(tf.eye(k), ae.decFc[0]), open(h));
  h = tf.reshape(tf.relu(h), [1, 7, 7, 32]);
  t = tf.reshape(t, [k, 7, 7, 32]);
  h = tf.add(up1(h, 1), ae.dec1[1]);
  t = tf.mul(up1(t, k), open(h));
  const y = tf.sigmoid(tf.add(up2(tf.relu(h), 1), ae.dec2[1]));
  return tf.transpose(tf.mul(up2(t, k), tf.mul(y, tf.sub(1, y))));
}

// Orthonormal basis (column-major n × rank) of the columns of the row-major n × k matrix `a`,
// by Gram-Schmidt with column pivoting in f64 (Dimple: pivoted Householder QR, same cost class).
function orthonormalise(a, n, k) {
  const cols = Array.from({ length: k }, (_, j) => Float64Array.from({ length: n }, (_, i) => a[i * k + j]));
  const q = [];
  const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  const largest = Math.max(...cols.map(norm));
  while (cols.length) {
    const norms = cols.map(norm);
    const best = norms.indexOf(Math.max(...norms));
    if (norms[best] <= 1e-4 * largest) break;
    const [v] = cols.splice(best, 1);
    const e = v.map((x) => x / norms[best]);
    for (const c of cols) {
      const d = c.reduce((s, x, i) => s + x * e[i], 0);
      for (let i = 0; i < n; i++) c[i] -= d * e[i];
    }
    q.push(e);
  }
  const out = new Float32Array(n * q.length);
  q.forEach((e, j) => out.set(e, j * n));
  return { q: out, rank: q.length };
}

// Q (Q^T v) on the host, for a column-major basis.
function project(basis, v, n) {
  const out = new Float32Array(n);
  for (let j = 0; j < basis.rank; j++) {
    const col = basis.q.subarray(j * n, (j + 1) * n);
    let d = 0;
    for (let i = 0; i < n; i++) d += col[i] * v[i];
    for (let i = 0; i < n; i++) out[i] += d * col[i];
  }
  return out;
}

// One PGD run over a batch of rows, as Dimple's PgdRun: L2 steps of the normalised gradient
// (restricted to each row's subspace: `q` [b, n, w], `on` [b, 1]), back into the eps-ball and
// the pixel box; every iterate and its logits are kept and read back at the end.
async function pgdRun(params, x, label, rows, eps, steps, stepSize) {
  const b = rows.q ? rows.q.shape[0] : 1;
  const n = x.length;
  const xs = tf.tidy(() => tf.tile(tf.tensor2d(x, [1, n]), [b, 1]));
  const onehot = tf.tidy(() => tf.oneHot(tf.fill([b], label, 'int32'), 10));
  let d = tf.zeros([b, n]);
  const iterates = [];
  const logits = [];
  const lossOf = (input) => tf.neg(tf.sum(tf.mul(tf.logSoftmax(forward(params, input)), onehot)));
  const gradient = tf.grad(lossOf);
  for (let s = 0; s < steps; s++) {
    const next = tf.tidy(() => {
      const input = tf.add(xs, d);
      logits.push(tf.keep(forward(params, input)));
      let g = gradient(input);
      if (rows.q) {
        const inside = tf.reshape(tf.matMul(tf.matMul(tf.reshape(g, [b, 1, n]), rows.q), rows.q, false, true), [b, n]);
        const outside = tf.sub(g, inside);
        g = tf.add(tf.mul(inside, rows.on), tf.mul(outside, tf.sub(1, rows.on)));
      }
      const length = tf.maximum(tf.sqrt(tf.sum(tf.square(g), 1, true)), 1e-12);
      let dn = tf.add(d, tf.mul(tf.div(g, length), stepSize));
      const dl = tf.maximum(tf.sqrt(tf.sum(tf.square(dn), 1, true)), 1e-12);
      dn = tf.mul(dn, tf.minimum(tf.div(eps, dl), 1));
      return tf.sub(tf.clipByValue(tf.add(xs, dn), 0, 1), xs);
    });
    iterates.push(d);
    d = next;
  }
  logits.push(tf.tidy(() => forward(params, tf.add(xs, d))));
  iterates.push(d);
  const its = tf.stack(iterates);
  const lgs = tf.stack(logits);
  const [path, scores] = await Promise.all([its.data(), lgs.data()]);
  [its, lgs, xs, onehot, ...iterates, ...logits].forEach((t) => t.dispose());
  return { path, scores, last: path.subarray((steps * b) * n, (steps * b + b) * n) };
}

// The margin of `cls` (its logit minus the best other) for each image of `images` [m, n].
async function margins(params, images, m, n, cls) {
  const logits = tf.tidy(() => forward(params, tf.tensor2d(images, [m, n])));
  const v = await logits.data();
  logits.dispose();
  const out = new Float32Array(m);
  for (let i = 0; i < m; i++) {
    const row = v.subarray(i * 10, i * 10 + 10);
    let other = -Infinity;
    for (let c = 0; c < 10; c++) if (c !== cls) other = Math.max(other, row[c]);
    out[i] = row[cls] - other;
  }
  return out;
}

window.tfjsAttackView = async ({ backend, runs = 3, k = 16, steps = 40, resolution = 64 }) => {
  const info = await selectBackend(backend);
  if (!info.ok) return { backend, error: `tfjs backend ${backend} is not available in this browser` };
  const { test } = await loadData();
  const n = 784;
  const x = Float32Array.from(test.pixels.subarray(0, n), (p) => p / 255);
  const label = test.labels[0];
  const random = rng(7);
  const params = [...linear(784, HIDDEN, random), ...linear(HIDDEN, HIDDEN, random), ...linear(HIDDEN, 10, random)];
  const ae = convAutoencoder(k, random);
  const results = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    // Tangent basis: the decoder Jacobian at E(x) in forward mode.
    const jac = tf.tidy(() => decoderJacobian(ae, encode(ae, tf.tensor2d(x, [1, n]))));
    const basis = orthonormalise(await jac.data(), n, k);
    jac.dispose();
    const control = orthonormalise(Float32Array.from({ length: n * k }, () => random() - 0.5), n, k);
    const t1 = performance.now();
    // PGD: the restricted row (plain, on, off, random) at the search radius 6, then the plain
    // attack at eps 2, each `steps` steps of 0.05 (the page's defaults).
    const w = Math.max(basis.rank, control.rank);
    const q = new Float32Array(4 * n * w);
    for (const [row, b] of [[1, basis], [2, basis], [3, control]]) {
      for (let j = 0; j < b.rank; j++) for (let i = 0; i < n; i++) q[(row * n + i) * w + j] = b.q[j * n + i];
    }
    const rows = { q: tf.tensor3d(q, [4, n, w]), on: tf.tensor2d([0, 1, 0, 1], [4, 1]) };
    await pgdRun(params, x, label, rows, 6, steps, 0.05);
    rows.q.dispose();
    rows.on.dispose();
    const plain = await pgdRun(params, x, label, {}, 2, steps, 0.05);
    const t2 = performance.now();
    // The four views: x, x + d, x + Proj(d), x + (d - Proj(d)), classified in one batch.
    const dv = plain.last;
    const on = project(basis, dv, n);
    const off = dv.map((v, i) => v - on[i]);
    const four = new Float32Array(4 * n);
    four.set(x, 0);
    four.set(x.map((p, i) => p + dv[i]), n);
    four.set(x.map((p, i) => p + on[i]), 2 * n);
    four.set(x.map((p, i) => p + off[i]), 3 * n);
    const probabilities = tf.tidy(() => tf.softmax(forward(params, tf.tensor2d(four, [4, n]))));
    await probabilities.data();
    probabilities.dispose();
    const t3 = performance.now();
    // The slice: the plane through x spanned by the on- and off-manifold parts, resolution²
    // images a few rows at a time, and two margin profiles of 161 points.
    const unit = (v) => {
      const l = Math.hypot(...v) || 1;
      return v.map((a) => a / l);
    };
    const e1 = unit(on);
    const dot = off.reduce((s, a, i) => s + a * e1[i], 0);
    const e2 = unit(off.map((a, i) => a - dot * e1[i]));
    const range = 5;
    const at = (i, m) => -range + (2 * range * i) / (m - 1);
    const chunkRows = 16;
    for (let j0 = 0; j0 < resolution; j0 += chunkRows) {
      const m = Math.min(chunkRows, resolution - j0) * resolution;
      const images = new Float32Array(m * n);
      for (let c = 0; c < m; c++) {
        const a = at(c % resolution, resolution);
        const b = at(j0 + Math.floor(c / resolution), resolution);
        for (let i = 0; i < n; i++) images[c * n + i] = x[i] + a * e1[i] + b * e2[i];
      }
      await margins(params, images, m, n, label);
    }
    for (const e of [e1, e2]) {
      const images = new Float32Array(161 * n);
      for (let c = 0; c < 161; c++) for (let i = 0; i < n; i++) images[c * n + i] = x[i] + at(c, 161) * e[i];
      await margins(params, images, 161, n, label);
    }
    const t4 = performance.now();
    results.push({ basis: t1 - t0, pgd: t2 - t1, views: t3 - t2, slice: t4 - t3, total: t4 - t0 });
  }
  [...params, ...Object.values(ae).flat()].forEach((t) => t.dispose());
  const mid = (key) => results.map((r) => r[key]).sort((a, b) => a - b)[Math.floor(results.length / 2)];
  return { ...info, version: tf.version_core, basis: mid('basis'), pgd: mid('pgd'), views: mid('views'), slice: mid('slice'), total: mid('total'), runs: results, tensorsLeft: tf.memory().numTensors };
};

const status = document.getElementById('status');
status.textContent = `TensorFlow.js ${tf.version_core} ready`;
status.dataset.ready = 'true';
