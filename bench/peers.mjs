// The peers `make bench` measures Dimple against, in the same run: TensorFlow.js in the same
// headless Chromium (bench/tfjs.html, served from the repository root) and JAX natively
// (bench/jax_mlp.py, in a venv under target/bench-venv with the versions bench/requirements.txt
// pins). Each returns its figures or `{ error }` saying why it was not measured.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// Runs the reference workload with TensorFlow.js backend `backend` in `page` (opened on
// bench/tfjs.html); `plan` is { runs, warmupEpochs, timedEpochs } or { runs, warmupMs, windowMs }.
export async function tfjsTrain(page, backend, plan) {
  await page.waitForSelector('#status[data-ready="true"]', { timeout: 60_000 });
  try {
    return await page.evaluate((o) => window.tfjsBench(o), { backend, ...plan });
  } catch (e) {
    return { error: String(e).split('\n')[0] };
  }
}

// The venv with the pinned JAX; created or refreshed when bench/requirements.txt changed.
// Returns the venv's python, or throws saying why it could not be made (for example when
// PyPI cannot be reached).
export function benchVenv(root = process.cwd()) {
  const venv = join(root, 'target', 'bench-venv');
  const requirements = readFileSync(join(root, 'bench', 'requirements.txt'), 'utf8');
  const stamp = join(venv, 'requirements.installed');
  const python = join(venv, 'bin', 'python');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === requirements) return python;
  const run = (cmd, args) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 900_000 });
  if (!existsSync(python)) run('python3', ['-m', 'venv', venv]);
  run(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '-q', '-r', join(root, 'bench', 'requirements.txt')]);
  writeFileSync(stamp, requirements);
  return python;
}

// The reference workload in JAX on the CPU; `{ error }` when the venv or the run failed.
export function jaxTrain(runs = 3) {
  let python;
  try {
    python = benchVenv();
  } catch (e) {
    return { error: `the JAX venv could not be made (pip install -r bench/requirements.txt): ${String(e.stderr || e.message).trim().split('\n').pop()}` };
  }
  try {
    const out = execFileSync(python, ['bench/jax_mlp.py', '--runs', String(runs)], { encoding: 'utf8', timeout: 900_000 });
    return JSON.parse(out.trim().split('\n').pop());
  } catch (e) {
    return { error: `bench/jax_mlp.py failed: ${String(e.stderr || e.message).trim().split('\n').pop()}` };
  }
}
