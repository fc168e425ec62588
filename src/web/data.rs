//! The data the page trains on: loading a dataset file, and the choice between the default
//! bundle and the full MNIST set (fetched only when the visitor asks for it).

use super::browser;
use super::lab::{LabStore, LoadState, Notices, notify};
use crate::ml::dataset::Dataset;
use crate::ml::mnist;
use leptos::prelude::*;
use leptos::task::spawn_local;

/// Fetches and decodes a dataset file shipped under `data/`.
pub async fn load_dataset(file: &str) -> Result<Dataset, String> {
    let url = format!("data/{file}");
    let bytes = browser::fetch_bytes(&url).await?;
    Dataset::decode(&bytes).map_err(|e| format!("{url}: {e}"))
}

fn describe(dataset: &Dataset) -> String {
    format!(
        "{}: {} training and {} test images of {}×{} pixels, {} classes",
        dataset.name.to_uppercase(),
        thousands(dataset.train.len()),
        thousands(dataset.test.len()),
        dataset.width,
        dataset.height,
        dataset.classes()
    )
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[component]
pub fn DataPanel(lab: LabStore, load: RwSignal<LoadState>, notices: Notices) -> impl IntoView {
    let choice = RwSignal::new("bundle".to_string());
    let info = Memo::new(move |_| {
        (load.get() == LoadState::Ready)
            .then(|| lab.with_value(|l| l.as_ref().map(|l| describe(&l.dataset))))
            .flatten()
            .unwrap_or_else(|| "loading…".into())
    });
    let switch = move |ev| {
        let wanted = event_target_value(&ev);
        let previous = choice.get_untracked();
        if wanted == previous {
            return;
        }
        choice.set(wanted.clone());
        let file = if wanted == "full" {
            mnist::FULL_FILE
        } else {
            mnist::BUNDLE_FILE
        };
        load.set(LoadState::Loading(format!("Loading {file}…")));
        spawn_local(async move {
            match load_dataset(file).await {
                Ok(dataset) => {
                    lab.update_value(|l| {
                        if let Some(l) = l {
                            l.replace_dataset(dataset);
                        }
                    });
                }
                Err(e) => {
                    notify(
                        notices,
                        true,
                        format!("The dataset could not be loaded: {e}. The previous one is kept."),
                    );
                    choice.set(previous);
                }
            }
            load.set(LoadState::Ready);
        });
    };
    view! {
        <section class="panel compact" aria-labelledby="data-title">
            <h2 id="data-title">"Data"</h2>
            <div class="controls">
                <label>"Digits"
                    <select data-testid="dataset-size" aria-label="Which part of MNIST to use"
                        prop:value=move || choice.get() on:change=switch
                        disabled=move || matches!(load.get(), LoadState::Loading(_))>
                        <option value="bundle">"Bundle: 12,000 / 2,000 (opens fast)"</option>
                        <option value="full">"Full MNIST: 60,000 / 10,000 (55 MB)"</option>
                    </select>
                </label>
                <p class="explain" data-testid="dataset-info">{move || info.get()}</p>
            </div>
        </section>
    }
}
