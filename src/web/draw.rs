//! Two more ways to choose a digit to attack: draw one with the mouse or a finger, or upload
//! a picture. Both become MNIST-like 28×28 images through `ml::preprocess`; this file only
//! handles the pointer, the file and the canvas pixels.

use super::browser::{chosen_file, describe, device_pixel_ratio};
use super::lab::{Notices, notify};
use crate::ml::preprocess::{ink_from_rgba, mnist_like};
use leptos::html::Canvas;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, HtmlImageElement};

/// Width of a drawn stroke in CSS pixels: a digit drawn across most of the pad ends up with
/// strokes about two pixels wide in its 20×20 box, like MNIST's.
const STROKE: f64 = 15.0;
/// Uploaded pictures are scaled down to at most this side before processing.
const MAX_SIDE: u32 = 280;

fn context(canvas: &HtmlCanvasElement) -> Option<CanvasRenderingContext2d> {
    canvas.get_context("2d").ok()??.dyn_into().ok()
}

/// A canvas's pixels as an ink map (ink bright), then as an MNIST-like digit.
fn canvas_digit(canvas: &HtmlCanvasElement) -> Result<Vec<f32>, String> {
    let ctx = context(canvas).ok_or("canvas has no 2-D context")?;
    let (w, h) = (canvas.width(), canvas.height());
    let rgba = ctx
        .get_image_data(0.0, 0.0, f64::from(w), f64::from(h))
        .map_err(|e| describe(&e))?
        .data()
        .0;
    mnist_like(
        &ink_from_rgba(&rgba, w as usize, h as usize),
        w as usize,
        h as usize,
    )
}

/// A pad to draw a digit on: white ink on black, like MNIST. Each finished stroke hands the
/// preprocessed 28×28 digit to `on_digit`.
#[component]
pub fn DrawPad(on_digit: Callback<Vec<f32>>) -> impl IntoView {
    let canvas = NodeRef::<Canvas>::new();
    let last = StoredValue::new(None::<(f64, f64)>);
    let clear = move || {
        let Some(c) = canvas.get_untracked() else {
            return;
        };
        let dpr = device_pixel_ratio();
        c.set_width((f64::from(c.client_width().max(1)) * dpr).round() as u32);
        c.set_height((f64::from(c.client_height().max(1)) * dpr).round() as u32);
        if let Some(ctx) = context(&c) {
            ctx.set_fill_style_str("#000");
            ctx.fill_rect(0.0, 0.0, f64::from(c.width()), f64::from(c.height()));
        }
    };
    Effect::new(move || {
        if canvas.get().is_some() {
            clear();
        }
    });
    // A point of the pointer in canvas pixels.
    let point = move |ev: &web_sys::PointerEvent| {
        let dpr = device_pixel_ratio();
        (
            f64::from(ev.offset_x()) * dpr,
            f64::from(ev.offset_y()) * dpr,
        )
    };
    let stroke = move |from: (f64, f64), to: (f64, f64)| {
        let Some(ctx) = canvas.get_untracked().as_ref().and_then(context) else {
            return;
        };
        ctx.set_stroke_style_str("#fff");
        ctx.set_line_width(STROKE * device_pixel_ratio());
        ctx.set_line_cap("round");
        ctx.set_line_join("round");
        ctx.begin_path();
        ctx.move_to(from.0, from.1);
        ctx.line_to(to.0, to.1);
        ctx.stroke();
    };
    let down = move |ev: web_sys::PointerEvent| {
        ev.prevent_default();
        if let Some(c) = canvas.get_untracked() {
            let _ = c.set_pointer_capture(ev.pointer_id());
        }
        let p = point(&ev);
        stroke(p, p);
        last.set_value(Some(p));
    };
    let moved = move |ev: web_sys::PointerEvent| {
        if let Some(from) = last.get_value() {
            let to = point(&ev);
            stroke(from, to);
            last.set_value(Some(to));
        }
    };
    let up = move |_: web_sys::PointerEvent| {
        if last.get_value().is_none() {
            return;
        }
        last.set_value(None);
        let Some(c) = canvas.get_untracked() else {
            return;
        };
        match canvas_digit(&c) {
            Ok(digit) => on_digit.run(digit),
            Err(e) => leptos::logging::warn!("drawing: {e}"),
        }
    };
    view! {
        <div class="draw">
            <canvas node_ref=canvas class="pad" data-testid="draw-pad" role="img"
                aria-label="Drawing pad: draw a digit with the mouse or a finger"
                on:pointerdown=down on:pointermove=moved on:pointerup=up on:pointercancel=up></canvas>
            <button data-testid="draw-clear" on:click=move |_| clear()>"Clear"</button>
        </div>
    }
}

/// A file input for a PNG or JPEG picture of a digit; a file that is not an image gets a
/// notice. The preprocessed digit and the file's name go to `on_digit`.
#[component]
pub fn UploadPicture(on_digit: Callback<(Vec<f32>, String)>, notices: Notices) -> impl IntoView {
    let change = move |ev: leptos::ev::Event| {
        let Some(file) = chosen_file(&ev) else {
            return;
        };
        spawn_local(async move {
            let name = file.name();
            match picture_digit(&file).await {
                Ok(digit) => on_digit.run((digit, name)),
                Err(e) => notify(notices, true, format!("{name}: {e}")),
            }
        });
    };
    view! {
        <label class="upload">"Upload a picture"
            <input type="file" accept="image/png,image/jpeg,image/*" data-testid="upload-image" on:change=change/>
        </label>
    }
}

/// Decodes an image file and turns it into an MNIST-like digit.
async fn picture_digit(file: &web_sys::File) -> Result<Vec<f32>, String> {
    let kind = file.type_();
    if !kind.starts_with("image/") {
        let kind = if kind.is_empty() {
            "unknown".into()
        } else {
            kind
        };
        return Err(format!(
            "this is not an image (its type is {kind}). Choose a PNG or JPEG picture of one digit."
        ));
    }
    let url = web_sys::Url::create_object_url_with_blob(file).map_err(|e| describe(&e))?;
    let image = HtmlImageElement::new().map_err(|e| describe(&e))?;
    image.set_src(&url);
    let decoded = JsFuture::from(image.decode()).await;
    let _ = web_sys::Url::revoke_object_url(&url);
    decoded.map_err(|_| {
        "the picture could not be decoded. Choose a PNG or JPEG picture of one digit.".to_string()
    })?;
    let (w, h) = (image.natural_width(), image.natural_height());
    if w == 0 || h == 0 {
        return Err("the picture is empty.".into());
    }
    let scale = (f64::from(MAX_SIDE) / f64::from(w.max(h))).min(1.0);
    let (dw, dh) = (
        ((f64::from(w) * scale).round() as u32).max(1),
        ((f64::from(h) * scale).round() as u32).max(1),
    );
    let canvas: HtmlCanvasElement = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.create_element("canvas").ok())
        .and_then(|e| e.dyn_into().ok())
        .ok_or("could not create a canvas")?;
    canvas.set_width(dw);
    canvas.set_height(dh);
    let ctx = context(&canvas).ok_or("canvas has no 2-D context")?;
    ctx.draw_image_with_html_image_element_and_dw_and_dh(
        &image,
        0.0,
        0.0,
        f64::from(dw),
        f64::from(dh),
    )
    .map_err(|e| describe(&e))?;
    canvas_digit(&canvas)
}
