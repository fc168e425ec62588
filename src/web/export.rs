//! Exports for a report or a slide: any panel as a PNG figure, the four views as one PNG strip,
//! and the numbers behind a panel as CSV. A figure is drawn from what the panel shows: its
//! canvases at full resolution, its headings, captions, legends and tables, at their places
//! on screen; buttons and settings are left out.

use super::browser::describe;
use super::lab::{Notices, notify};
use crate::ml::experiments::report::Table;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(inline_js = r#"
// Elements left out of a figure with everything inside them.
const SKIP = 'button, input, select, textarea, label, details:not([open]), .controls, .buttons, .exports, .picker, [data-export="skip"]';

// Whether `el` (of computed style `s`) is drawn at all.
const visible = (el, s = getComputedStyle(el)) => {
  const r = el.getBoundingClientRect();
  return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none' && Number(s.opacity) > 0;
};
const opaque = (colour) => colour && colour !== 'transparent' && !/rgba\(.*,\s*0\)$/.test(colour);

// The first opaque background from `el` up to the document: what the figure is drawn on.
function backdrop(el) {
  for (let e = el; e; e = e.parentElement) {
    const c = getComputedStyle(e).backgroundColor;
    if (opaque(c)) return c;
  }
  return '#ffffff';
}

// A CSS linear gradient as a canvas gradient across the box (x, y, w, h).
function gradient(ctx, css, x, y, w, h) {
  const stops = [...css.matchAll(/(rgba?\([^)]*\)|#[0-9a-f]{3,8})\s*([\d.]+%)?/gi)];
  if (stops.length < 2) return null;
  const vertical = /to (top|bottom)/.test(css);
  const g = vertical ? ctx.createLinearGradient(x, y, x, y + h) : ctx.createLinearGradient(x, y, x + w, y);
  stops.forEach((m, i) => {
    const at = m[2] ? parseFloat(m[2]) / 100 : i / (stops.length - 1);
    g.addColorStop(Math.min(1, Math.max(0, at)), m[1]);
  });
  return g;
}

// What `root` shows, as drawing operations placed in CSS pixels from its top-left: canvases,
// decorations (colour swatches and bars, legend lines) and the text word by word where the
// browser laid it out, each in its element's font and colour. Horizontal bands taken only by
// left-out controls are cut, so a figure has no holes where the buttons were. Returns the
// operations and the figure's [width, height].
function collect(root) {
  const base = root.getBoundingClientRect();
  const place = (r) => ({ x: r.left - base.left, y: r.top - base.top, w: r.width, h: r.height });
  const skipped = (el) => {
    const out = el !== root && el.closest(SKIP);
    return Boolean(out) && root.contains(out);
  };
  const ops = [];
  const holes = [];
  for (const el of root.querySelectorAll('*')) {
    if (skipped(el)) {
      if (!skipped(el.parentElement) && visible(el)) holes.push(place(el.getBoundingClientRect()));
      continue;
    }
    const s = getComputedStyle(el);
    if (!visible(el, s)) continue;
    const box = place(el.getBoundingClientRect());
    if (el instanceof HTMLCanvasElement) {
      const smooth = s.imageRendering !== 'pixelated' && s.imageRendering !== 'crisp-edges';
      ops.push({ kind: 'canvas', box, el, smooth, fill: opaque(s.backgroundColor) ? s.backgroundColor : null });
    } else if (el.childElementCount === 0 && !el.textContent.trim()) {
      if (s.backgroundImage.includes('linear-gradient')) ops.push({ kind: 'gradient', box, css: s.backgroundImage });
      else if (opaque(s.backgroundColor)) ops.push({ kind: 'fill', box, fill: s.backgroundColor });
      const top = parseFloat(s.borderTopWidth);
      if (top > 0 && s.borderTopStyle !== 'none' && opaque(s.borderTopColor)) {
        ops.push({ kind: 'fill', box: { ...box, h: top }, fill: s.borderTopColor });
      }
    }
  }
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || skipped(parent) || !node.textContent.trim()) continue;
    const s = getComputedStyle(parent);
    if (s.visibility === 'hidden' || Number(s.opacity) === 0) continue;
    const clip = s.overflow === 'hidden' ? parent.getBoundingClientRect() : null;
    const font = [s.fontStyle, s.fontWeight, parseFloat(s.fontSize), s.fontFamily];
    for (const word of node.textContent.matchAll(/\S+/g)) {
      range.setStart(node, word.index);
      range.setEnd(node, word.index + word[0].length);
      const r = range.getBoundingClientRect();
      if (r.width === 0 || (clip && r.right > clip.right + 1)) continue;
      ops.push({ kind: 'text', box: place(r), text: word[0], font, colour: s.color });
    }
  }
  // The bands to cut: the parts of the holes' rows that nothing drawn reaches, less a gap.
  const taken = ops.map((o) => [o.box.y, o.box.y + o.box.h]);
  const cuts = [];
  for (const [t0, b0] of holes.map((h) => [h.y, h.y + h.h]).sort((p, q) => p[0] - q[0])) {
    let [top, bottom] = [t0, b0];
    for (const [t, b] of taken) {
      if (b <= top || t >= bottom) continue;
      if (t <= top) top = b;
      else bottom = Math.min(bottom, t);
    }
    const last = cuts[cuts.length - 1];
    if (last) top = Math.max(top, last[1] + 2 * GAP);
    if (bottom - top > 2 * GAP) cuts.push([top + GAP, bottom - GAP]);
  }
  const shift = (y) => cuts.reduce((sum, [t, b]) => sum + (y >= b ? b - t : 0), 0);
  for (const o of ops) o.box = { ...o.box, y: o.box.y - shift(o.box.y) };
  return { ops, size: [Math.ceil(base.width), Math.ceil(base.height - shift(base.height))] };
}

// Draws `ops` from `collect` onto `ctx` with their origin at (ox, oy), `scale` canvas pixels
// to the CSS pixel.
function draw(ctx, ops, ox, oy, scale) {
  ctx.textBaseline = 'middle';
  ctx.textAlign = 'left';
  for (const o of ops) {
    const [x, y, w, h] = [ox + o.box.x * scale, oy + o.box.y * scale, o.box.w * scale, o.box.h * scale];
    if (o.kind === 'canvas') {
      if (o.fill) { ctx.fillStyle = o.fill; ctx.fillRect(x, y, w, h); }
      ctx.imageSmoothingEnabled = o.smooth;
      if (o.el.width > 0 && o.el.height > 0) ctx.drawImage(o.el, x, y, w, h);
    } else if (o.kind === 'gradient') {
      const g = gradient(ctx, o.css, x, y, w, h);
      if (g) { ctx.fillStyle = g; ctx.fillRect(x, y, w, h); }
    } else if (o.kind === 'fill') {
      ctx.fillStyle = o.fill;
      ctx.fillRect(x, y, w, Math.max(h, scale));
    } else {
      const [style, weight, size, family] = o.font;
      ctx.font = `${style} ${weight} ${size * scale}px ${family}`;
      ctx.fillStyle = o.colour;
      ctx.fillText(o.text, x, y + h / 2, w + scale);
    }
  }
}

// Hands `blob` to the browser as a download named `name`.
function offer(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function download_bytes(bytes, name) {
  offer(new Blob([bytes], { type: 'application/octet-stream' }), name);
}

export function download_text(text, name) {
  offer(new Blob([text], { type: 'text/plain;charset=utf-8' }), name);
}

function save(canvas, name) {
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => {
      if (blob) {
        offer(blob, name);
        resolve();
      } else {
        reject(new Error('the browser could not encode the picture'));
      }
    }, 'image/png');
  });
}

const MARGIN = 12;
// Room left where a band of controls is cut out of a figure, in CSS pixels.
const GAP = 6;
const scaleNow = () => Math.max(1, window.devicePixelRatio || 1);

// Downloads the panel around `from` as a PNG figure named `name`; resolves when it is handed over.
export function export_panel_png(from, name) {
  const root = from.closest('section.panel') || from.closest('.embed');
  if (!root) return Promise.reject(new Error('the button is not inside a panel'));
  const scale = scaleNow();
  const { ops, size: [w, h] } = collect(root);
  const canvas = document.createElement('canvas');
  canvas.width = Math.round((w + 2 * MARGIN) * scale);
  canvas.height = Math.round((h + 2 * MARGIN) * scale);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = backdrop(root);
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  draw(ctx, ops, MARGIN * scale, MARGIN * scale, scale);
  return save(canvas, name);
}

// Downloads the elements matching `selector` in the panel around `from` side by side, in one
// row, as a PNG strip named `name`; resolves when it is handed over.
export function export_strip_png(from, selector, name) {
  const root = from.closest('section.panel') || from.closest('.embed');
  const parts = root ? [...root.querySelectorAll(selector)].filter((el) => visible(el)).map(collect) : [];
  if (parts.length === 0) return Promise.reject(new Error('there is nothing to put in the strip yet'));
  const scale = scaleNow();
  const width = parts.reduce((sum, p) => sum + p.size[0], 0) + MARGIN * (parts.length + 1);
  const height = Math.max(...parts.map((p) => p.size[1])) + 2 * MARGIN;
  const canvas = document.createElement('canvas');
  canvas.width = Math.round(width * scale);
  canvas.height = Math.round(height * scale);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = backdrop(root);
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  let x = MARGIN;
  for (const part of parts) {
    draw(ctx, part.ops, x * scale, MARGIN * scale, scale);
    x += part.size[0] + MARGIN;
  }
  return save(canvas, name);
}
"#)]
extern "C" {
    /// Hands `bytes` to the browser as a download named `name`.
    pub fn download_bytes(bytes: &[u8], name: &str);
    #[wasm_bindgen(catch, js_name = download_text)]
    fn offer_text(text: &str, name: &str) -> Result<(), JsValue>;
    #[wasm_bindgen(catch)]
    fn export_panel_png(from: &web_sys::Element, name: &str) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(catch)]
    fn export_strip_png(
        from: &web_sys::Element,
        selector: &str,
        name: &str,
    ) -> Result<js_sys::Promise, JsValue>;
}

/// Offers `text` as a file download named `name`.
pub fn download_text(name: &str, text: &str) -> Result<(), String> {
    offer_text(text, name).map_err(|e| describe(&e))
}

/// What a PNG button exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Figure {
    /// The whole panel the button sits in.
    Panel,
    /// The elements matching this selector in the button's panel, side by side in one row.
    Strip(&'static str),
}

/// The element a click happened on.
fn clicked(ev: &web_sys::MouseEvent) -> Option<web_sys::Element> {
    ev.current_target()?.dyn_into().ok()
}

/// A button that downloads a PNG of its panel (or of a strip of its parts) named
/// `dimple-{name}.png`; a failure becomes a notice.
#[component]
pub fn PngButton(
    /// Which figure.
    figure: Figure,
    /// File name stem after "dimple-".
    name: Signal<String>,
    /// Button text.
    label: &'static str,
    /// `data-testid` of the button.
    testid: &'static str,
    /// The panel's id (`data-panel`).
    panel: &'static str,
    /// Whether there is something to export.
    #[prop(into)]
    ready: Signal<bool>,
    notices: Notices,
) -> impl IntoView {
    let click = move |ev: web_sys::MouseEvent| {
        let Some(from) = clicked(&ev) else {
            return;
        };
        let file = format!("dimple-{}.png", name.get_untracked());
        let promise = match figure {
            Figure::Panel => export_panel_png(&from, &file),
            Figure::Strip(selector) => export_strip_png(&from, selector, &file),
        };
        spawn_local(async move {
            let saved = match promise {
                Ok(p) => JsFuture::from(p).await.map(drop),
                Err(e) => Err(e),
            };
            if let Err(e) = saved {
                notify(
                    notices,
                    true,
                    format!("Could not export the picture: {}", describe(&e)),
                );
            }
        });
    };
    view! {
        <button data-testid=testid data-panel=panel data-figure=match figure { Figure::Panel => "panel", Figure::Strip(_) => "strip" }
            on:click=click disabled=move || !ready.get()
            title="Download as a PNG picture">{label}</button>
    }
}

/// A button that downloads `tables` as `dimple-{name}.csv` (one table as plain CSV, several as
/// sections headed `# id: title`, like the experiments' exports); disabled while there is none.
#[component]
pub fn CsvButton(
    /// File name stem after "dimple-".
    name: Signal<String>,
    /// The numbers; empty while there is nothing to export.
    tables: Signal<Vec<Table>>,
    /// The panel's id (`data-panel`).
    panel: &'static str,
    notices: Notices,
) -> impl IntoView {
    let click = move |_| {
        let text = tables.with_untracked(|tables| match tables.as_slice() {
            [] => None,
            [one] => Some(one.to_csv()),
            several => Some(
                several
                    .iter()
                    .map(|t| format!("# {}: {}\n{}", t.id, t.title, t.to_csv()))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        });
        let Some(text) = text else {
            return;
        };
        let file = format!("dimple-{}.csv", name.get_untracked());
        if let Err(e) = download_text(&file, &text) {
            notify(notices, true, format!("Could not export the table: {e}"));
        }
    };
    view! {
        <button data-testid="export-csv" data-panel=panel on:click=click disabled=move || tables.with(Vec::is_empty)
            title="Download the numbers as CSV">"CSV"</button>
    }
}
