//! The page: Leptos components over `ml`, the backend choice and the browser bindings.
//! Nothing here computes science; it loads, starts, shows and cancels.

mod attack;
mod backend;
mod browser;
mod data;
mod draw;
mod experiments;
mod fields;
mod gallery;
mod idb;
mod lab;
mod manifold;
mod models;
mod plot;
mod pretrained;
mod slice;
mod toy;
mod train;

use crate::ml::mnist;
use attack::AttackPanel;
use backend::{BackendKind, BackendRequest};
use gallery::Gallery;
use lab::{Lab, LabStore, LoadState, Notices, notify};
use leptos::prelude::*;
use leptos::task::spawn_local;
use manifold::AutoencoderPanel;
use train::TrainPanel;

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
    let lab: LabStore = StoredValue::new_local(None);
    let gallery = RwSignal::new(Vec::new());
    let selected = RwSignal::new(None::<usize>);
    let attacked: slice::AttackedSignal = RwSignal::new(None);
    let starting: pretrained::StartingSignal = RwSignal::new(Default::default());

    spawn_local(async move {
        let query = browser::query_param("backend");
        let (request, warning) = BackendRequest::from_query(query.as_deref());
        if let Some(w) = warning {
            notify(notices, false, w);
        }
        let backend = backend::init(request).await;
        backend_label.set(backend.label.clone());
        backend_kind.set(Some(backend.kind));
        if let Some(n) = backend.notice {
            notify(notices, false, n);
        }
        load.set(LoadState::Loading("Loading MNIST digits…".into()));
        let loaded = data::load_dataset(mnist::BUNDLE_FILE).await;
        match loaded {
            Ok(dataset) => {
                lab.set_value(Some(Lab::new(backend.device, dataset)));
                // The visitor's saved models first: the shipped ones only fill what is left.
                load.set(LoadState::Loading(
                    "Looking for models saved in this browser…".into(),
                ));
                models::restore(lab, starting, notices).await;
                // Start with the shipped models unless the visitor asked for a blank page.
                if browser::query_param("pretrained").as_deref() != Some("0") {
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
                    format!("The digits could not be loaded: {e}. Reload the page to try again."),
                );
                load.set(LoadState::Failed(e));
            }
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
        </header>
        <main>
            <div role="status" aria-live="polite">
                {move || notices.get().into_iter().enumerate().map(|(i, n)| view! {
                    <p class="notice" class:error=n.error data-testid="notice">
                        <span>{n.text}</span>
                        <button class="dismiss" aria-label="Dismiss this message"
                            on:click=move |_| notices.update(|all| { if i < all.len() { all.remove(i); } })>"×"</button>
                    </p>
                }).collect_view()}
                {move || match load.get() {
                    LoadState::Loading(what) => Some(view! { <p class="notice" data-testid="loading">{what}</p> }),
                    _ => None,
                }}
            </div>
            <data::DataPanel lab load notices/>
            <TrainPanel lab load notices gallery starting/>
            <Gallery lab load predictions=gallery selected/>
            <AutoencoderPanel lab load notices starting/>
            <models::ModelsPanel lab load notices starting/>
            <AttackPanel lab load notices selected attacked starting/>
            <slice::SlicePanel lab load notices attacked/>
            <toy::ToyPanel lab load notices/>
            <experiments::ExperimentsPanel lab load notices/>
        </main>
    }
}
