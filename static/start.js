// Starts the page: loads the wasm-bindgen glue and the wasm module that Trunk named in the
// #dimple-start element, as Trunk's own inline loader would. A file of its own, not an inline
// script, so the Content-Security-Policy in index.html can forbid inline scripts.

// plotters sizes chart legends by measuring a <span> styled with setAttribute('style', ...),
// which a policy without 'unsafe-inline' refuses (and reports). The same declarations set
// through the CSSOM are allowed, so the page's own scripts set styles that way; style
// attributes in markup (what an injection would bring) stay refused.
const setAttribute = Element.prototype.setAttribute;
Element.prototype.setAttribute = function (name, value) {
  if (String(name).toLowerCase() === 'style') {
    this.style.cssText = String(value);
    return;
  }
  setAttribute.call(this, name, value);
};

// The page comes in two builds (tools/page-without-webgpu.sh): with burn's WebGPU backend, and
// without it, a much smaller download. The one with it is loaded only where the page would run
// on WebGPU (src/web/backend.rs decides the same way): asked for with ?backend=webgpu (the
// last value wins, as in the page's own reading of a link), or, asked for nothing in
// particular, where the browser has a hardware adapter; a software one such as SwiftShader
// is slower than the CPU backend.
async function usesWebGpu() {
  const asked = new URLSearchParams(location.search).getAll('backend').at(-1);
  if (asked === 'webgpu') return true;
  if (asked === 'cpu') return false;
  try {
    const adapter = await navigator.gpu?.requestAdapter();
    return Boolean(adapter) && !(adapter.info?.isFallbackAdapter || adapter.isFallbackAdapter);
  } catch {
    return false;
  }
}

const names = document.getElementById('dimple-start').dataset;
const build = !names.cpuJs || (await usesWebGpu())
  ? { js: names.js, wasm: names.wasm }
  : { js: names.cpuJs, wasm: names.cpuWasm };
const glue = await import(build.js);
const wasm = await glue.default({ module_or_path: build.wasm });
window.wasmBindings = glue;
dispatchEvent(new CustomEvent('TrunkApplicationStarted', { detail: { wasm } }));
