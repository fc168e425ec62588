//! The data the page trains on: loading a dataset file, the choice of dataset (MNIST's digits
//! or Fashion-MNIST's clothes) and of its part (the default bundle, or MNIST's full set,
//! fetched only when the visitor asks for it).

use super::browser;
use super::lab::{Lab, LabStore, LoadState, Notices, notify};
use super::url::DataSettings;
use crate::ml::dataset::Dataset;
use crate::ml::mnist::Source;
use leptos::prelude::*;
use leptos::task::spawn_local;

/// Fetches and decodes a dataset file shipped under `data/`.
pub async fn load_dataset(file: &str) -> Result<Dataset, String> {
    let url = format!("data/{file}");
    let bytes = browser::fetch_bytes(&url).await?;
    Dataset::decode(&bytes).map_err(|e| format!("{url}: {e}"))
}

/// The dataset's usual name ("Fashion-MNIST"), or its file name in capitals.
fn label_of(name: &str) -> String {
    Source::of_name(name).map_or_else(|| name.to_uppercase(), |s| s.label().to_string())
}

fn describe(dataset: &Dataset) -> String {
    let mut text = format!(
        "{}: {} training and {} test images of {}×{} pixels, {} classes",
        label_of(&dataset.name),
        thousands(dataset.train.len()),
        thousands(dataset.test.len()),
        dataset.width,
        dataset.height,
        dataset.classes()
    );
    if dataset
        .class_names
        .iter()
        .any(|n| n.parse::<u32>().is_err())
    {
        text += &format!(" ({})", dataset.class_names.join(", "));
    }
    text
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

/// How the notice after a switch of dataset begins.
const SWITCHED: &str = "Switched to ";

/// What the visitor should know after the lab moved from the dataset named `old` to another:
/// which models came back, and that the old ones are kept.
fn switch_notice(lab: &Lab, old: &str) -> Option<String> {
    let new = &lab.dataset.name;
    if new == old {
        return None;
    }
    let (new, old_label) = (label_of(new), label_of(old));
    let mut text = format!("{SWITCHED}{new}. ");
    text += if lab.classifier.is_some() || lab.autoencoder.is_some() {
        "The models you trained on it before are back."
    } else {
        "Models belong to the dataset they were trained on: train a classifier and an \
         autoencoder on this one to use the views."
    };
    if lab.has_shelved(old) {
        text += &format!(" Your {old_label} models are kept for when you switch back.");
    }
    Some(text)
}

#[component]
pub fn DataPanel(
    lab: LabStore,
    load: RwSignal<LoadState>,
    notices: Notices,
    /// The dataset and its part, shared with the page's address.
    url: DataSettings,
) -> impl IntoView {
    let DataSettings { source, size } = url;
    let info = Memo::new(move |_| {
        (load.get() == LoadState::Ready)
            .then(|| lab.with_value(|l| l.as_ref().map(|l| describe(&l.dataset))))
            .flatten()
            .unwrap_or_else(|| "loading…".into())
    });
    // Tracks `load` too: before the lab exists there is no run count to watch.
    let training = move || {
        load.track();
        lab.with_value(|l| l.as_ref().is_some_and(Lab::training))
    };
    let locked = move || matches!(load.get(), LoadState::Loading(_)) || training();

    // Loads `file`; if that fails, the previous data stays and the choices go back.
    let fetch = move |file: &'static str, previous: (Source, String)| {
        load.set(LoadState::Loading(format!("Loading {file}…")));
        spawn_local(async move {
            match load_dataset(file).await {
                Ok(dataset) => {
                    let notice = lab
                        .try_update_value(|l| {
                            let l = l.as_mut()?;
                            let old = l.dataset.name.clone();
                            l.replace_dataset(dataset);
                            switch_notice(l, &old)
                        })
                        .flatten();
                    if let Some(text) = notice {
                        // The notice of an earlier switch is out of date now.
                        notices.update(|n| n.retain(|n| !n.text.starts_with(SWITCHED)));
                        notify(notices, false, text);
                    }
                }
                Err(e) => {
                    notify(
                        notices,
                        true,
                        format!("The dataset could not be loaded: {e}. The previous one is kept."),
                    );
                    source.set(previous.0);
                    size.set(previous.1);
                }
            }
            load.set(LoadState::Ready);
        });
    };
    let choose_source = move |ev| {
        let Ok(wanted) = event_target_value(&ev).parse::<Source>() else {
            return;
        };
        let previous = (source.get_untracked(), size.get_untracked());
        if wanted == previous.0 {
            return;
        }
        source.set(wanted);
        size.set("bundle".into());
        fetch(wanted.bundle_file(), previous);
    };
    let choose_size = move |ev| {
        let wanted = event_target_value(&ev);
        let previous = (source.get_untracked(), size.get_untracked());
        if wanted == previous.1 {
            return;
        }
        let file = match (wanted.as_str(), previous.0.full_file()) {
            ("full", Some(full)) => full,
            _ => previous.0.bundle_file(),
        };
        size.set(wanted);
        fetch(file, previous);
    };
    view! {
        <section class="panel compact" aria-labelledby="data-title">
            <h2 id="data-title">"Data"</h2>
            <p class="explain">
                "The pictures the networks learn from: small grey images of 28×28 pixels, each with its class. "
                "Try Fashion-MNIST's clothes after the digits: do their adversarial examples also point off the manifold?"
            </p>
            <div class="controls">
                <label>"Dataset"
                    <select data-testid="dataset-select" aria-label="Which dataset to use"
                        prop:value=move || source.get().id() on:change=choose_source disabled=locked>
                        {Source::ALL.into_iter().map(|s| view! {
                            <option value=s.id()>{match s {
                                Source::Mnist => "MNIST: handwritten digits",
                                Source::Fashion => "Fashion-MNIST: clothes",
                            }}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label>"Images"
                    <select data-testid="dataset-size" aria-label="Which part of the dataset to use"
                        prop:value=move || size.get() on:change=choose_size disabled=locked>
                        <option value="bundle">"Bundle: 12,000 / 2,000 (opens fast)"</option>
                        <option value="full" disabled=move || source.get().full_file().is_none()>
                            "Full MNIST: 60,000 / 10,000 (55 MB)"
                        </option>
                    </select>
                </label>
                <p class="explain" data-testid="dataset-info">{move || info.get()}</p>
                {move || training().then(|| view! {
                    <p class="explain small" data-testid="dataset-locked">
                        "The dataset can be switched once the training has finished or is cancelled."
                    </p>
                })}
            </div>
        </section>
    }
}
