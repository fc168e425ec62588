//! The "Your models" panel: keeps the classifier and the autoencoder of the dataset on the
//! page in this browser (IndexedDB, through [`idb`](super::idb)) so they come back on the next
//! visit ([`restore`]), downloads them as model files, and loads a model file the visitor
//! chooses. A file is checked completely (format, checksum, architecture, dataset, image
//! shape) before anything changes: a foreign or damaged file gets a notice saying what is
//! wrong, and the models on the page stay as they were.
//!
//! Models belong to their dataset: the store's keys and the files' names carry its name.

use super::browser::{chosen_file, describe};
use super::export::download_bytes;
use super::idb;
use super::lab::{Lab, LabStore, LoadState, Notices, notify};
use super::manifold::test_error;
use super::pretrained::{Role, Source, StartingSignal};
use super::train::test_accuracy;
use crate::ml::autoencoder::Autoencoder;
use crate::ml::checkpoint::{ModelFile, ModelKind, Precision};
use crate::ml::mnist;
use crate::ml::model::{Classifier, ImageShape};
use burn::prelude::Device;
use js_sys::Uint8Array;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen_futures::JsFuture;

/// The largest file read as a model file: far above any model of this page (the MLP
/// classifier is 1.1 MB in f32), far below what would strain the tab.
const MAX_FILE_BYTES: f64 = 64.0 * 1024.0 * 1024.0;

/// Key of the model of `role` for the dataset named `dataset` in the browser's store.
fn key(dataset: &str, role: Role) -> String {
    format!("{dataset}/{}", role.name())
}

/// Name of the downloaded file ("mnist-classifier.dmplm", like the shipped models).
fn file_name(dataset: &str, role: Role) -> String {
    format!("{dataset}-{}.dmplm", role.name())
}

/// The dataset's usual name ("Fashion-MNIST"), or its file name in capitals.
fn label_of(dataset: &str) -> String {
    mnist::Source::of_name(dataset).map_or_else(|| dataset.to_uppercase(), |s| s.label().into())
}

fn role_of(kind: ModelKind) -> Role {
    match kind {
        ModelKind::Classifier(_) => Role::Classifier,
        ModelKind::Autoencoder { .. } => Role::Autoencoder,
    }
}

/// "classifier", "autoencoder", or "classifier and autoencoder".
fn roles_text(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.name())
        .collect::<Vec<_>>()
        .join(" and ")
}

fn megabytes(bytes: usize) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// A model from a file, checked against the page's dataset and built on its device.
enum Checked {
    Classifier(Box<Classifier>),
    Autoencoder(Box<Autoencoder>),
}

/// The model `file` holds, if it fits the dataset named `dataset` with images of `shape`.
fn check(
    file: &ModelFile,
    dataset: &str,
    shape: ImageShape,
    device: &Device,
) -> Result<Checked, String> {
    let role = role_of(file.kind);
    if file.dataset != dataset {
        return Err(format!(
            "it holds a {} trained on {}, and the page is on {}: switch the dataset in the Data panel first",
            role.name(),
            label_of(&file.dataset),
            label_of(dataset)
        ));
    }
    if file.shape != shape {
        let (f, s) = (file.shape, shape);
        return Err(format!(
            "it was made for images of {}×{} pixels in {} classes, and this dataset has {}×{} pixels in {} classes",
            f.height, f.width, f.classes, s.height, s.width, s.classes
        ));
    }
    match role {
        Role::Classifier => file
            .to_classifier(device)
            .map(|c| Checked::Classifier(Box::new(c))),
        Role::Autoencoder => file
            .to_autoencoder(device)
            .map(|a| Checked::Autoencoder(Box::new(a))),
    }
    .map_err(|e| e.to_string())
}

/// Puts `model` into the lab for `dataset` and records where it came from. Nothing changes
/// if the page moved to another dataset meanwhile, or when `only_if_empty` and the lab has a
/// model of that role. Whether it was installed.
fn install(
    lab: LabStore,
    starting: StartingSignal,
    dataset: &str,
    model: Checked,
    origin: (Source, String),
    only_if_empty: bool,
) -> bool {
    let role = match model {
        Checked::Classifier(_) => Role::Classifier,
        Checked::Autoencoder(_) => Role::Autoencoder,
    };
    let installed = lab
        .try_update_value(|l| {
            let l = l.as_mut().filter(|l| l.dataset.name == dataset)?;
            match model {
                Checked::Classifier(c) if !(only_if_empty && l.classifier.is_some()) => {
                    l.classifier = Some(*c)
                }
                Checked::Autoencoder(a) if !(only_if_empty && l.autoencoder.is_some()) => {
                    l.autoencoder = Some(*a)
                }
                _ => return None,
            }
            Some(())
        })
        .flatten()
        .is_some();
    if installed {
        starting.update(|s| s.record(dataset, role, origin.0, origin.1));
    }
    installed
}

/// Installs the models saved in this browser for the lab's dataset where the lab has no model
/// of that role yet, and says so in a notice. Saved models that no longer load get a notice
/// and stay saved; storage this browser does not offer is only logged (the panel says so).
pub async fn restore(lab: LabStore, starting: StartingSignal, notices: Notices) {
    let Some((dataset, shape, device, empty)) = lab.with_value(|l| {
        l.as_ref().map(|l| {
            (
                l.dataset.name.clone(),
                l.shape,
                l.device.clone(),
                [l.classifier.is_none(), l.autoencoder.is_none()],
            )
        })
    }) else {
        return;
    };
    let mut restored = Vec::new();
    for (role, _) in Role::ALL.into_iter().zip(empty).filter(|(_, e)| *e) {
        let bytes = match idb::get(&key(&dataset, role)).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => continue,
            Err(e) => {
                leptos::logging::warn!("models saved in this browser are unavailable: {e}");
                return;
            }
        };
        let checked = ModelFile::decode(&bytes)
            .map_err(|e| e.to_string())
            .and_then(|file| match check(&file, &dataset, shape, &device)? {
                _ if role_of(file.kind) != role => Err(format!("it holds a {}", file.kind)),
                model => Ok((model, file.note)),
            });
        match checked {
            Ok((model, note)) => {
                let origin = (Source::Saved, note);
                if install(lab, starting, &dataset, model, origin, true) {
                    restored.push(role);
                }
            }
            Err(e) => notify(
                notices,
                false,
                format!(
                    "Your {} {} saved in this browser could not be restored: {e}. Save again to replace it, or Forget it.",
                    label_of(&dataset),
                    role.name()
                ),
            ),
        }
    }
    if !restored.is_empty() {
        notify(
            notices,
            false,
            format!(
                "Restored your saved models from this browser: the {} {}.",
                label_of(&dataset),
                roles_text(&restored)
            ),
        );
    }
}

/// The lab's model of `role` as a model file (f32, so it loads back exactly), with a note
/// giving its architecture and how well it does on the test images; `None` if there is no
/// such model.
async fn model_file(lab: LabStore, role: Role) -> Result<Option<ModelFile>, String> {
    let Some((dataset, shape, test, classifier, autoencoder)) = lab.with_value(|l| {
        l.as_ref().map(|l| {
            (
                l.dataset.name.clone(),
                l.shape,
                l.test.clone(),
                l.classifier.clone(),
                l.autoencoder.clone(),
            )
        })
    }) else {
        return Ok(None);
    };
    let images = format!("the {} {} test images", test.len(), label_of(&dataset));
    Ok(Some(match role {
        Role::Classifier => {
            let Some(model) = classifier else {
                return Ok(None);
            };
            let accuracy = test_accuracy(&model, &test).await?;
            let note = format!("{}: {accuracy:.2}% on {images}", model.kind().label());
            ModelFile::of_classifier(&model, shape, &dataset, &note).await?
        }
        Role::Autoencoder => {
            let Some(model) = autoencoder else {
                return Ok(None);
            };
            let error = test_error(&model, &test).await?;
            let note = format!(
                "{}, k = {}: error {error:.4} on {images}",
                model.kind().label(),
                model.latent()
            );
            ModelFile::of_autoencoder(&model, shape, &dataset, &note).await?
        }
    }))
}

/// Stores the lab's models in this browser; what was saved, for the status line.
async fn save(lab: LabStore) -> Result<String, String> {
    let mut saved = Vec::new();
    let mut size = 0;
    for role in Role::ALL {
        let Some(file) = model_file(lab, role).await? else {
            continue;
        };
        let bytes = file.encode(Precision::F32);
        idb::put(&key(&file.dataset, role), &bytes)
            .await
            .map_err(|e| {
                format!(
                    "this browser does not let the page keep models ({e}); download them instead"
                )
            })?;
        size += bytes.len();
        saved.push((file.dataset, role));
    }
    let Some((dataset, _)) = saved.first() else {
        return Err(
            "there is no model to save yet: train a classifier or an autoencoder first, or load a model file".into(),
        );
    };
    let roles: Vec<Role> = saved.iter().map(|(_, r)| *r).collect();
    Ok(format!(
        "Saved the {} {} in this browser ({}): they come back when you open this page again.",
        label_of(dataset),
        roles_text(&roles),
        megabytes(size)
    ))
}

/// Hands the lab's model of `role` to the browser as a file; what was downloaded.
async fn download(lab: LabStore, role: Role) -> Result<String, String> {
    let file = model_file(lab, role).await?.ok_or_else(|| {
        format!(
            "there is no {} to download yet: train one first",
            role.name()
        )
    })?;
    let bytes = file.encode(Precision::F32);
    let name = file_name(&file.dataset, role);
    download_bytes(&bytes, &name);
    Ok(format!("Downloaded {name} ({}).", megabytes(bytes.len())))
}

/// Whether a model is training (the page then refuses to swap models under it).
fn training(lab: LabStore) -> bool {
    lab.with_value(|l| l.as_ref().is_some_and(Lab::training))
}

/// Reads, checks and installs the model in `file`; what was loaded.
async fn load_file(
    lab: LabStore,
    starting: StartingSignal,
    file: &web_sys::File,
) -> Result<String, String> {
    const TRAINING: &str =
        "a model is training: load a file once the training has finished or is cancelled";
    if training(lab) {
        return Err(TRAINING.into());
    }
    if file.size() > MAX_FILE_BYTES {
        return Err(format!(
            "it is {}, far larger than any model of this page, so it is not a Dimple model file",
            megabytes(file.size() as usize)
        ));
    }
    let buffer = JsFuture::from(file.array_buffer())
        .await
        .map_err(|e| format!("it could not be read ({})", describe(&e)))?;
    let bytes = Uint8Array::new(&buffer).to_vec();
    let model_file = ModelFile::decode(&bytes).map_err(|e| e.to_string())?;
    let (dataset, shape, device) = lab
        .with_value(|l| {
            l.as_ref()
                .map(|l| (l.dataset.name.clone(), l.shape, l.device.clone()))
        })
        .ok_or("the data is not loaded yet")?;
    let model = check(&model_file, &dataset, shape, &device)?;
    if training(lab) {
        return Err(TRAINING.into());
    }
    let role = role_of(model_file.kind);
    let origin = (Source::File(file.name()), model_file.note);
    if !install(lab, starting, &dataset, model, origin, false) {
        return Err("the dataset changed while it was read".into());
    }
    Ok(format!(
        "Loaded the {} {} from {}: the panels above show it, and attacks use it.",
        label_of(&dataset),
        role.name(),
        file.name()
    ))
}

/// One model kept in this browser, as the panel lists it.
#[derive(Clone, Debug, PartialEq)]
struct SavedModel {
    /// "MNIST classifier".
    title: String,
    note: String,
    bytes: usize,
}

/// What this browser keeps.
#[derive(Clone, Debug, PartialEq)]
enum Kept {
    Unknown,
    Unavailable(String),
    Models(Vec<SavedModel>),
}

/// Reads the list of models kept in this browser.
async fn kept() -> Kept {
    match idb::entries().await {
        Err(e) => Kept::Unavailable(e),
        Ok(mut entries) => Kept::Models({
            // Per dataset, the classifier before the autoencoder, as on the page.
            entries.sort_by_key(|(key, _)| {
                let (dataset, role) = key.split_once('/').unwrap_or((key, ""));
                (dataset.to_string(), role != Role::Classifier.name())
            });
            entries
                .into_iter()
                .map(|(key, bytes)| match ModelFile::decode(&bytes) {
                    Ok(f) => SavedModel {
                        title: format!("{} {}", label_of(&f.dataset), role_of(f.kind).name()),
                        note: f.note,
                        bytes: bytes.len(),
                    },
                    Err(e) => SavedModel {
                        title: key,
                        note: format!("unreadable: {e}"),
                        bytes: bytes.len(),
                    },
                })
                .collect()
        }),
    }
}

/// Removes every model kept in this browser.
async fn forget() -> Result<(), String> {
    for (key, _) in idb::entries().await? {
        idb::delete(&key).await?;
    }
    Ok(())
}

#[component]
pub fn ModelsPanel(
    lab: LabStore,
    load: RwSignal<LoadState>,
    notices: Notices,
    starting: StartingSignal,
) -> impl IntoView {
    let busy = RwSignal::new(None::<&'static str>);
    let status = RwSignal::new(String::new());
    let saved = RwSignal::new(Kept::Unknown);
    let refresh = move || spawn_local(async move { saved.set(kept().await) });
    let ready = move || load.get() == LoadState::Ready;
    let is_training = move || {
        load.track();
        training(lab)
    };

    // What is kept, once the page is ready (the models saved before were restored by then).
    let listed = StoredValue::new(false);
    Effect::new(move || {
        if ready() && !listed.get_value() {
            listed.set_value(true);
            refresh();
        }
    });
    // The saved models of a dataset the visitor switches to come back like those at start.
    Effect::new(move |shown: Option<Option<String>>| {
        if !ready() {
            return shown.flatten();
        }
        let name = lab.with_value(|l| l.as_ref().map(|l| l.dataset.name.clone()));
        if shown.flatten().is_some_and(|s| Some(s) != name) {
            spawn_local(restore(lab, starting, notices));
        }
        name
    });

    // Runs `work` with the panel marked busy; its outcome goes to the status line or, when
    // it failed, to a notice beginning with `failed`.
    let act = move |doing: &'static str, failed: &'static str, work: LocalBoxed| {
        if busy.get_untracked().is_some() {
            return;
        }
        busy.set(Some(doing));
        status.set(String::new());
        spawn_local(async move {
            match work.await {
                Ok(done) => status.set(done),
                Err(e) => notify(notices, true, format!("{failed}: {e}.")),
            }
            busy.set(None);
            refresh();
        });
    };
    let save_click = move |_| act("Saving…", "Could not save", Box::pin(save(lab)));
    let download_click = move |role: Role| {
        act(
            "Preparing the file…",
            "Could not download",
            Box::pin(download(lab, role)),
        )
    };
    let forget_click = move |_| {
        act(
            "Forgetting…",
            "Could not forget the saved models",
            Box::pin(async {
                forget().await?;
                Ok("Forgot the models saved in this browser; the models on the page stay until you leave it.".into())
            }),
        )
    };
    let file_chosen = move |ev: leptos::ev::Event| {
        let Some(file) = chosen_file(&ev) else {
            return;
        };
        let failed = format!("Could not load {}", file.name());
        busy.set(Some("Checking the file…"));
        status.set(String::new());
        spawn_local(async move {
            match load_file(lab, starting, &file).await {
                Ok(done) => status.set(done),
                Err(e) => notify(
                    notices,
                    true,
                    format!("{failed}: {e}. Nothing was changed."),
                ),
            }
            busy.set(None);
        });
    };

    let idle = move || ready() && busy.get().is_none();
    view! {
        <section class="panel" aria-labelledby="models-title">
            <h2 id="models-title">"Your models"</h2>
            <p class="explain">
                "Keep the classifier and the autoencoder of this dataset in this browser, so they come back when you open the page again; "
                "download them as model files (.dmplm) to keep or share; or load a model file. A model belongs to the dataset it was trained on."
            </p>
            <div class="controls models-controls">
                <div class="buttons">
                    <button class="primary" data-testid="model-save" on:click=save_click disabled=move || !idle()>"Save in this browser"</button>
                    <button data-testid="model-download-classifier" on:click=move |_| download_click(Role::Classifier)
                        disabled=move || !idle()>"Download classifier"</button>
                    <button data-testid="model-download-autoencoder" on:click=move |_| download_click(Role::Autoencoder)
                        disabled=move || !idle()>"Download autoencoder"</button>
                </div>
                <label class="upload">"Load a model file"
                    <input type="file" accept=".dmplm" data-testid="model-load" on:change=file_chosen
                        disabled=move || !idle() || is_training()/>
                </label>
            </div>
            {move || is_training().then(|| view! {
                <p class="explain small">"Model files can be loaded once the training has finished or is cancelled."</p>
            })}
            <p class="status" data-testid="model-status" aria-live="polite">
                {move || busy.get().map(str::to_string).unwrap_or_else(|| status.get())}
            </p>
            <div class="models-kept" data-testid="model-saved" data-count=move || match saved.get() {
                Kept::Models(m) => m.len().to_string(),
                _ => String::new(),
            }>
                {move || match saved.get() {
                    Kept::Unknown => view! { <p>"Looking for models saved in this browser…"</p> }.into_any(),
                    Kept::Unavailable(e) => view! {
                        <p>"This browser does not let the page keep models (" {e} "). Download them instead."</p>
                    }.into_any(),
                    Kept::Models(models) if models.is_empty() => view! {
                        <p>"Nothing is saved in this browser yet."</p>
                    }.into_any(),
                    Kept::Models(models) => view! {
                        <div class="kept-head">
                            <p>"Saved in this browser:"</p>
                            <button data-testid="model-forget" on:click=forget_click disabled=move || !idle()>"Forget"</button>
                        </div>
                        <ul>
                            {models.into_iter().map(|m| view! {
                                <li><strong>{m.title}</strong> ": " {m.note} " · " {megabytes(m.bytes)}</li>
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                }}
            </div>
        </section>
    }
}

/// The work behind a button: a future giving the status line's text or an error.
type LocalBoxed = std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>>>>;
