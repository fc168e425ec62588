//! The gallery: test digits the classifier never trained on, each with its predicted class
//! and confidence (a wrong prediction is marked). Clicking one attacks it in the four views.

use super::lab::{LabStore, LoadState, TestDigit, first_test_digits};
use super::plot::grey_image;
use super::train::{GALLERY_SIZE, GalleryPredictions};
use super::url::{Panel, scroll_to_panel};
use leptos::html::Canvas;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

#[component]
pub fn Gallery(
    lab: LabStore,
    load: RwSignal<LoadState>,
    predictions: GalleryPredictions,
    selected: RwSignal<Option<usize>>,
) -> impl IntoView {
    let digits = first_test_digits(lab, load, GALLERY_SIZE);
    view! {
        <section class="panel" aria-labelledby="gallery-title">
            <h2 id="gallery-title">"Test digits"</h2>
            <p class="explain">"Test images the network never saw while training. Under each: the class it predicts and how sure it is; red marks a mistake. Click one to attack it in the four views below."</p>
            // Thirty digits are thirty Tab stops: a keyboard can go straight on to the attack.
            <button class="skip" data-testid="gallery-skip" on:click=move |_| skip_to_attack()>
                "Skip the test digits, to the attack"
            </button>
            <div class="gallery" data-testid="gallery">
                {move || {
                    let (digits, width, height) = digits.get();
                    let names = lab.with_value(|l| l.as_ref().map(|l| l.dataset.class_names.clone()).unwrap_or_default());
                    digits.into_iter().enumerate().map(|(i, digit)| view! {
                        <GalleryDigit index=i digit width height predictions selected names=names.clone()/>
                    }).collect_view()
                }}
            </div>
        </section>
    }
}

#[component]
fn GalleryDigit(
    index: usize,
    digit: TestDigit,
    width: usize,
    height: usize,
    predictions: GalleryPredictions,
    selected: RwSignal<Option<usize>>,
    /// The dataset's class names, by label.
    names: Vec<String>,
) -> impl IntoView {
    let canvas = NodeRef::<Canvas>::new();
    let pixels = digit.pixels;
    Effect::new(move || {
        if let Some(c) = canvas.get()
            && let Err(e) = grey_image(&c, &pixels, width, height)
        {
            leptos::logging::warn!("gallery: {e}");
        }
    });
    let prediction = move || predictions.with(|p| p.get(index).copied());
    let label = digit.label;
    let name = move |k: u8| {
        names
            .get(usize::from(k))
            .cloned()
            .unwrap_or_else(|| k.to_string())
    };
    let label_name = name(label);
    view! {
        <figure data-testid="gallery-item" data-label=label
            data-prediction=move || prediction().map(|p| p.0.to_string()).unwrap_or_default()
            data-confidence=move || prediction().map(|p| format!("{:.4}", p.1)).unwrap_or_default()
            class:wrong=move || prediction().is_some_and(|p| p.0 != label)
            class:selected=move || selected.get() == Some(index)>
            <button class="pick" data-testid="gallery-pick" aria-pressed=move || (selected.get() == Some(index)).to_string()
                aria-label=format!("attack this test digit, true class {label_name}")
                on:click=move |_| {
                    selected.set(Some(index));
                    scroll_to_panel(Panel::Views);
                }>
                <canvas node_ref=canvas role="img" aria-label=format!("test digit, true class {label_name}")></canvas>
            </button>
            <figcaption>
                {move || match prediction() {
                    Some((class, confidence)) => format!("{} · {:.0}%", name(class), 100.0 * confidence),
                    None => "untrained".to_string(),
                }}
            </figcaption>
        </figure>
    }
}

/// Scrolls to the attack panel and puts the keyboard's focus on its first control.
fn skip_to_attack() {
    scroll_to_panel(Panel::Views);
    let first = leptos::prelude::document()
        .query_selector("[data-testid=\"random-digit\"]")
        .ok()
        .flatten()
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
    if let Some(e) = first {
        let _ = e.focus();
    }
}
