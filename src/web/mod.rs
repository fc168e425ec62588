//! The page: Leptos components over `ml`, the backend choice and the browser bindings.
//! Nothing here computes science; it loads, starts, shows and cancels.

mod attack;
mod backend;
mod browser;
mod data;
mod draw;
mod experiments;
mod export;
mod fields;
mod gallery;
#[cfg(feature = "webgpu")]
mod gpu_matmul;
mod idb;
mod lab;
mod manifold;
mod models;
mod plot;
mod pretrained;
mod slice;
mod toy;
mod train;
mod url;

use crate::ml::mnist;
use attack::AttackPanel;
use backend::{BackendKind, BackendRequest};
use browser::FetchError;
use gallery::Gallery;
use lab::{Lab, LabStore, LoadState, Notices, notify};
use leptos::prelude::*;
use leptos::task::spawn_local;
use manifold::AutoencoderPanel;
use train::TrainPanel;
use url::{Panel, UrlSettings};

/// Mounts the page into `<body>`.
pub fn mount() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

#[component]
fn App() -> impl IntoView {
    let backend_label = RwSignal::new("starting…".to_string());
    let backend_kind = RwSignal::new(None::<BackendKind>);
    let notices: Notices = RwSignal::new(Vec::new());
    let load = RwSignal::new(LoadState::Loading("Choosing a backend…".into()));
    let download = data::Download::new();
    let lab: LabStore = StoredValue::new_local(None);
    let gallery = RwSignal::new(Vec::new());
    // Every setting, from the address; each problem in it is reported as a notice.
    let settings = UrlSettings::new();
    settings.apply_query(&url::location_query(), notices);
    let selected = settings.digit;
    let embedded = settings.embedded().then(|| match settings.panel() {
        Some(p) if Panel::EMBEDDABLE.contains(&p) => p,
        other => {
            let shown: Vec<_> = Panel::EMBEDDABLE.iter().map(|p| p.id()).collect();
            notify(
                notices,
                false,
                format!(
                    "Embedded, the page shows one panel: panel={} ({}); showing the four views.",
                    shown.join(", panel="),
                    match other {
                        Some(p) => format!("{} cannot be shown alone", p.id()),
                        None => "the link names none".into(),
                    }
                ),
            );
            settings.panel.set(Panel::Views.id().into());
            Panel::Views
        }
    });
    let attacked: slice::AttackedSignal = RwSignal::new(None);
    let starting: pretrained::StartingSignal = RwSignal::new(Default::default());

    spawn_local(async move {
        let backend = settings.backend.get_untracked();
        let (request, warning) = BackendRequest::from_query(Some(&backend));
        if let Some(w) = warning {
            notify(notices, false, w);
        }
        let backend = backend::init(request).await;
        backend_label.set(backend.label.clone());
        backend_kind.set(Some(backend.kind));
        backend::keep_on_loss(&backend, lab, notices, backend_label, backend_kind);
        if let Some(n) = backend.notice {
            notify(notices, false, n);
        }
        let source = settings.data.source.get_untracked();
        let full = (settings.data.size.get_untracked() == "full")
            .then(|| source.full_file())
            .flatten();
        // The full set may be cancelled, or fail, and then the page opens on the bundle.
        let mut loaded = None;
        if let Some(file) = full {
            load.set(LoadState::Loading(format!(
                "Loading {}…",
                data::file_label(file)
            )));
            match data::load_dataset(file, download, true).await {
                Ok(dataset) => loaded = Some(dataset),
                Err(e) => {
                    let what = data::file_label(file);
                    let (error, why) = match e {
                        FetchError::Failed(e) => (true, format!("Could not load {what} ({e})")),
                        FetchError::Cancelled => (false, format!("Loading {what} was cancelled")),
                    };
                    notify(
                        notices,
                        error,
                        format!(
                            "{why}; opening the bundle (12,000 training and 2,000 test images) instead."
                        ),
                    );
                    settings.data.size.set("bundle".into());
                }
            }
        }
        let loaded = match loaded {
            Some(dataset) => Ok(dataset),
            None => {
                load.set(LoadState::Loading(format!("Loading {}…", source.label())));
                data::load_dataset(source.bundle_file(), download, false)
                    .await
                    .map_err(|e| match e {
                        FetchError::Failed(e) => e,
                        FetchError::Cancelled => "cancelled".into(),
                    })
            }
        };
        match loaded {
            Ok(dataset) => {
                lab.set_value(Some(Lab::new(backend.device, dataset)));
                let tests = lab.with_value(|l| l.as_ref().map_or(0, |l| l.dataset.test.len()));
                if let Some(d) = selected.get_untracked().filter(|&d| d >= tests) {
                    notify(
                        notices,
                        false,
                        format!(
                            "The link picks test image #{d}, but this test set has {tests} images; attacking #0 instead."
                        ),
                    );
                    selected.set(None);
                }
                // The visitor's saved models first: the shipped ones only fill what is left.
                load.set(LoadState::Loading(
                    "Looking for models saved in this browser…".into(),
                ));
                models::restore(lab, starting, notices).await;
                // Start with the shipped models unless the visitor asked for a blank page.
                // (Dimple ships pretrained models for MNIST only.)
                if settings.pretrained.get_untracked() != "0" && source == mnist::Source::Mnist {
                    load.set(LoadState::Loading("Loading the pretrained models…".into()));
                    if let Err(e) = pretrained::install(lab, starting).await {
                        notify(
                            notices,
                            false,
                            format!(
                                "The pretrained models could not be loaded ({e}); train your own below."
                            ),
                        );
                    }
                }
                load.set(LoadState::Ready);
            }
            Err(e) => {
                notify(
                    notices,
                    true,
                    format!(
                        "The {} data could not be loaded: {e}. Reload the page to try again.",
                        source.label()
                    ),
                );
                load.set(LoadState::Failed(e));
            }
        }
    });

    // The address follows the settings, so that it is always a link to this view.
    Effect::new(move || url::replace_address(&settings.to_query(embedded.is_some()).0));

    if let Some(panel) = embedded {
        return view! { <Embedded panel settings lab load notices download gallery selected attacked starting/> }
            .into_any();
    }

    // A link that names a panel opens there, once the page has loaded.
    let opened = StoredValue::new(false);
    Effect::new(move || {
        if load.get() != LoadState::Ready || opened.get_value() {
            return;
        }
        opened.set_value(true);
        if let Some(panel) = settings.panel() {
            spawn_local(async move {
                browser::sleep(0).await;
                url::scroll_to_panel(panel);
            });
        }
    });

    view! {
        <header class="top">
            <h1>"Dimple"</h1>
            <p>"Adversarial examples and the dimpled manifold, trained in your browser."</p>
            <span class="backend" data-testid="backend"
                class:webgpu=move || backend_kind.get() == Some(BackendKind::WebGpu)
                data-kind=move || match backend_kind.get() { Some(BackendKind::WebGpu) => "webgpu", Some(BackendKind::Cpu) => "cpu", None => "" }>
                "Backend: " {move || backend_label.get()}
            </span>
            <url::ShareButton settings/>
        </header>
        <url::PresetBar settings/>
        <main>
            <NoticeList notices load download/>
            <data::DataPanel lab load notices url=settings.data download/>
            <TrainPanel lab load notices gallery starting url=settings.train/>
            <Gallery lab load predictions=gallery selected/>
            <AutoencoderPanel lab load notices starting url=settings.autoencoder/>
            <models::ModelsPanel lab load notices starting/>
            <AttackPanel lab load notices selected attacked starting url=settings.attack/>
            <slice::SlicePanel lab load notices attacked url=settings.slice/>
            <toy::ToyPanel lab load notices url=settings.toy/>
            <experiments::ExperimentsPanel lab load notices/>
        </main>
    }
    .into_any()
}

/// How long the copy of a new notice stays at the top of the screen.
const TOAST_MS: i32 = 8000;

/// The page's notices and what is loading.
#[component]
fn NoticeList(
    notices: Notices,
    load: RwSignal<LoadState>,
    download: data::Download,
) -> impl IntoView {
    // A new notice whose list has scrolled out of sight also shows for a while in a copy
    // fixed at the top of the screen, so that a button far down the page visibly answers.
    // The copy is for the eye only: the list announces it, and clicks pass through it.
    let list = NodeRef::<leptos::html::Div>::new();
    let toast = RwSignal::new(None::<lab::Notice>);
    let seen = StoredValue::new(0usize);
    Effect::new(move || {
        let count = notices.with(Vec::len);
        let before = seen.get_value();
        seen.set_value(count);
        if count <= before {
            if count < before {
                toast.set(None);
            }
            return;
        }
        let out_of_sight = list
            .get_untracked()
            .is_some_and(|el| el.get_bounding_client_rect().bottom() < 0.0);
        if !out_of_sight {
            return;
        }
        toast.set(notices.with_untracked(|all| all.last().cloned()));
        spawn_local(async move {
            browser::sleep(TOAST_MS).await;
            if seen.get_value() == count {
                toast.set(None);
            }
        });
    });
    view! {
        {move || toast.get().map(|n| view! {
            <p class="notice toast" class:error=n.error data-testid="notice-toast" aria-hidden="true">{n.text}</p>
        })}
        <div role="status" aria-live="polite" node_ref=list>
            {move || notices.get().into_iter().enumerate().map(|(i, n)| view! {
                <p class="notice" class:error=n.error data-testid="notice">
                    <span>{n.text}</span>
                    <button class="dismiss" aria-label="Dismiss this message"
                        on:click=move |_| notices.update(|all| { if i < all.len() { all.remove(i); } })>"×"</button>
                </p>
            }).collect_view()}
            {move || match load.get() {
                LoadState::Loading(what) => Some(view! {
                    <div class="notice loading" data-testid="loading">
                        <span>{what}</span>
                        <data::DownloadProgress download/>
                    </div>
                }),
                _ => None,
            }}
        </div>
    }
}

/// Embed mode: one panel alone for an iframe (with what it needs: the slice takes its plane
/// from an attack that runs out of sight), its notices, and a link to the whole page.
#[allow(clippy::too_many_arguments)]
#[component]
fn Embedded(
    panel: Panel,
    settings: UrlSettings,
    lab: LabStore,
    load: RwSignal<LoadState>,
    notices: Notices,
    download: data::Download,
    gallery: train::GalleryPredictions,
    selected: RwSignal<Option<usize>>,
    attacked: slice::AttackedSignal,
    starting: pretrained::StartingSignal,
) -> impl IntoView {
    let attack = move || view! { <AttackPanel lab load notices selected attacked starting url=settings.attack/> };
    let shown = match panel {
        Panel::Train => {
            view! { <TrainPanel lab load notices gallery starting url=settings.train/> }.into_any()
        }
        Panel::Autoencoder => {
            view! { <AutoencoderPanel lab load notices starting url=settings.autoencoder/> }
                .into_any()
        }
        Panel::Slice => view! {
            <div hidden>{attack()}</div>
            <slice::SlicePanel lab load notices attacked url=settings.slice/>
        }
        .into_any(),
        Panel::Toy => view! { <toy::ToyPanel lab load notices url=settings.toy/> }.into_any(),
        Panel::Experiments => {
            view! { <experiments::ExperimentsPanel lab load notices/> }.into_any()
        }
        _ => attack().into_any(),
    };
    let whole_page = move || url::address_with(&settings.to_query(false).0);
    url::report_height();
    view! {
        <div class="embed" data-testid="embed" data-panel=panel.id()>
            <a class="open-in-dimple" data-testid="open-in-dimple" href=whole_page target="_blank" rel="noopener">
                "Open in Dimple ↗"
            </a>
            <NoticeList notices load download/>
            <main>{shown}</main>
        </div>
    }
}
