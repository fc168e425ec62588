//! The data the page trains on: loading a dataset file, the choice of dataset (MNIST's digits
//! or Fashion-MNIST's clothes) and of its part (the default bundle, or MNIST's full set,
//! fetched only when the visitor asks for it).

use super::browser::{self, Abort, FetchError};
use super::fields::ProgressBar;
use super::lab::{Lab, LabStore, LoadState, Notices, notify};
use super::url::DataSettings;
use crate::ml::dataset::{self, Dataset};
use crate::ml::mnist::Source;
use leptos::prelude::*;
use leptos::task::spawn_local;

/// The dataset download under way, if any: how far it got, and the handle that stops it.
#[derive(Clone, Copy)]
pub struct Download {
    /// Bytes received, and the file's length once its header has arrived.
    received: RwSignal<Option<(usize, Option<usize>)>>,
    /// Whether the visitor may stop it (there is data to fall back on).
    cancellable: RwSignal<bool>,
    abort: StoredValue<Option<Abort>, LocalStorage>,
}

impl Download {
    pub fn new() -> Self {
        Self {
            received: RwSignal::new(None),
            cancellable: RwSignal::new(false),
            abort: StoredValue::new_local(None),
        }
    }

    /// Stops the download under way; its `load_dataset` returns `FetchError::Cancelled`.
    pub fn cancel(&self) {
        self.abort.with_value(|a| {
            if let Some(a) = a {
                a.abort();
            }
        });
    }
}

impl Default for Download {
    fn default() -> Self {
        Self::new()
    }
}

/// Fetches and decodes a dataset file shipped under `data/`, showing its progress in
/// `download`. A file that announces itself as something else, or claims more than a dataset
/// file may have, is refused as soon as its header has arrived; one that stops short or goes on
/// past its length is reported as cut off or damaged.
pub async fn load_dataset(
    file: &str,
    download: Download,
    cancellable: bool,
) -> Result<Dataset, FetchError> {
    let url = format!("data/{file}");
    let abort = Abort::new();
    download.abort.set_value(Some(abort.clone()));
    download.cancellable.set(cancellable);
    download.received.set(Some((0, None)));
    let mut shown = (0, None);
    let fetched = browser::fetch_packed(&url, &abort, |bytes| {
        // The length, read from the header once it has arrived.
        let total = match (shown.1, bytes.len()) {
            (Some(total), _) => Some(total),
            (None, n) if n < dataset::HEADER_LEN => None,
            (None, _) => Some(dataset::file_len(bytes).map_err(|e| e.to_string())?),
        };
        if let Some(total) = total {
            if bytes.len() > total {
                return Err(format!(
                    "the file goes on past the {total} bytes its header gives; it is damaged"
                ));
            }
            if shown.1.is_none() {
                bytes
                    .try_reserve_exact(total - bytes.len())
                    .map_err(|_| format!("no memory for its {}", megabytes(total)))?;
            }
        }
        // A new figure on the page every half per cent (or 256 KB before the length is known).
        let step = total.map_or(1 << 18, |t| (t / 200).max(1));
        if total != shown.1 || bytes.len() / step != shown.0 / step {
            shown = (bytes.len(), total);
            download.received.set(Some(shown));
        }
        Ok(())
    })
    .await;
    download.received.set(None);
    download.abort.set_value(None);
    Dataset::decode(&fetched?).map_err(|e| FetchError::Failed(format!("{url}: {e}")))
}

/// What the data file `file` holds, for the visitor: "Fashion-MNIST", "the full set of MNIST".
pub fn file_label(file: &str) -> String {
    Source::ALL
        .into_iter()
        .find_map(|s| {
            if s.bundle_file() == file {
                Some(s.label().to_string())
            } else if s.full_file() == Some(file) {
                Some(format!("the full set of {}", s.label()))
            } else {
                None
            }
        })
        .unwrap_or_else(|| file.to_string())
}

/// Megabytes, to one decimal.
fn megabytes(bytes: usize) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// The download under way, as a bar with its figures and (where there is data to fall back
/// on) a Cancel button.
#[component]
pub fn DownloadProgress(download: Download) -> impl IntoView {
    let percent = Signal::derive(move || match download.received.get() {
        // In f64: `got * 100` overflows wasm32's usize past 43 MB.
        Some((got, Some(total))) if total > 0 => {
            (100.0 * got as f64 / total as f64).min(100.0) as u32
        }
        _ => 0,
    });
    move || {
        download.received.get().map(|(got, total)| {
            view! {
                <div class="download" data-testid="download" data-received=got
                    data-total=total.map(|t| t.to_string())>
                    <ProgressBar testid="download-progress" label="Dataset download" percent/>
                    <span class="small">{match total {
                        Some(t) => format!("{} of {}", megabytes(got), megabytes(t)),
                        None => megabytes(got),
                    }}</span>
                    {move || download.cancellable.get().then(|| view! {
                        <button data-testid="download-cancel" on:click=move |_| download.cancel()>"Cancel"</button>
                    })}
                </div>
            }
        })
    }
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
    download: Download,
) -> impl IntoView {
    let DataSettings { source, size } = url;
    let info = Memo::new(move |_| match load.get() {
        LoadState::Ready => lab
            .with_value(|l| l.as_ref().map(|l| describe(&l.dataset)))
            .unwrap_or_default(),
        LoadState::Loading(_) => "loading…".into(),
        LoadState::Failed(_) => "not loaded".into(),
    });
    // Tracks `load` too: before the lab exists there is no run count to watch.
    let training = move || {
        load.track();
        lab.with_value(|l| l.as_ref().is_some_and(Lab::training))
    };
    // Without a lab (its data failed to load) there is nothing to switch from.
    let locked = move || load.get() != LoadState::Ready || training();

    // Loads `file`; if that fails or is cancelled, the previous data stays and the choices go
    // back.
    let fetch = move |file: &'static str, previous: (Source, String)| {
        load.set(LoadState::Loading(format!("Loading {}…", file_label(file))));
        spawn_local(async move {
            match load_dataset(file, download, true).await {
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
                    let kept = lab
                        .with_value(|l| l.as_ref().map(|l| label_of(&l.dataset.name)))
                        .unwrap_or_else(|| "previous".into());
                    let (error, text) = match e {
                        FetchError::Cancelled => (
                            false,
                            format!(
                                "Loading {} was cancelled. The {kept} data is kept.",
                                file_label(file)
                            ),
                        ),
                        FetchError::Failed(e) => (
                            true,
                            format!(
                                "The dataset could not be loaded: {e}. The {kept} data is kept."
                            ),
                        ),
                    };
                    notify(notices, error, text);
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
                            "Full MNIST: 60,000 / 10,000 (11 MB)"
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
