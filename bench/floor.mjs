// The floor of Dimple's code download (bench/burn-floor): burn's layers, loss and Adam training
// the reference MLP and nothing else, built as the page is published
// (bench/burn-floor/build.sh, into target/burn-floor/). Loaded beside the TensorFlow.js peer
// (bench/tfjs.html) during `make bench`, which weighs it only once it has trained here.
//
// window.floorTrain({ build, steps }) loads the build `cpu` (burn Flex) or `webgpu` (burn's
// WebGPU backend), trains `steps` steps of batch 128 on the bundle's training images, reading
// each loss back, and returns the losses and the time taken.

import { loadData } from './tfjs.mjs';

window.floorTrain = async ({ build, steps = 30, batch = 128 }) => {
  const floor = await import(`/target/burn-floor/${build}/floor.js`);
  await floor.default();
  const { train } = await loadData();
  const run = build === 'webgpu' ? floor.train_webgpu : floor.train;
  const started = performance.now();
  const losses = await run(train.pixels, train.labels, batch, steps);
  return { losses: Array.from(losses), ms: performance.now() - started };
};
