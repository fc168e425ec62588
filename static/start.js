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

const names = document.getElementById('dimple-start').dataset;
const glue = await import(names.js);
const wasm = await glue.default({ module_or_path: names.wasm });
window.wasmBindings = glue;
dispatchEvent(new CustomEvent('TrunkApplicationStarted', { detail: { wasm } }));
