//! The models the page starts with, and where the lab's models came from when the visitor did
//! not train them here: the pretrained models trained by the native program
//! (`dimple pretrain`) on the bundled data and shipped as model files under `models/`, so a
//! first visit shows the four views without any training; models saved in this browser on an
//! earlier visit; and model files the visitor loaded. The panels show the figures of such a
//! model until the visitor trains their own ([`StartingModels`]).

use super::browser::fetch_bytes;
use super::lab::{Lab, LabStore, LoadState, Notices, notify};
use crate::ml::checkpoint::ModelFile;
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::future::Future;

/// The two models the lab holds for a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Classifier,
    Autoencoder,
}

impl Role {
    /// Both roles, classifier first.
    pub const ALL: [Role; 2] = [Role::Classifier, Role::Autoencoder];

    /// Its name in file names and in sentences.
    pub fn name(self) -> &'static str {
        match self {
            Self::Classifier => "classifier",
            Self::Autoencoder => "autoencoder",
        }
    }
}

/// Where a model the visitor did not train on this page came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Shipped with the page.
    Pretrained,
    /// Saved in this browser on an earlier visit.
    Saved,
    /// Loaded from a model file the visitor chose (its name).
    File(String),
}

impl Source {
    /// Short name for data attributes: "pretrained", "saved" or "file".
    pub fn id(&self) -> &'static str {
        match self {
            Self::Pretrained => "pretrained",
            Self::Saved => "saved",
            Self::File(_) => "file",
        }
    }
}

/// A model put into the lab without training on this page.
#[derive(Clone, Debug, PartialEq)]
pub struct Installed {
    pub source: Source,
    /// How it was trained (the model file's note).
    pub note: String,
    /// Tells two installations apart, even of the same file twice.
    pub serial: u64,
}

impl Installed {
    /// How the panels name it: "the pretrained classifier", "your classifier saved in this
    /// browser", "the classifier from mnist-classifier.dmplm".
    pub fn describe(&self, role: Role) -> String {
        let role = role.name();
        match &self.source {
            Source::Pretrained => format!("the pretrained {role}"),
            Source::Saved => format!("your {role} saved in this browser"),
            Source::File(name) => format!("the {role} from {name}"),
        }
    }
}

/// The models in the lab that the visitor did not train on this page, by dataset and role.
/// A panel shows the figures of its role's model from here until the visitor trains one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StartingModels {
    installed: Vec<(String, Role, Installed)>,
    serials: u64,
}

impl StartingModels {
    /// The model of `role` installed for the dataset named `dataset`, if any.
    pub fn get(&self, dataset: &str, role: Role) -> Option<&Installed> {
        self.installed
            .iter()
            .find(|(d, r, _)| d == dataset && *r == role)
            .map(|(_, _, i)| i)
    }

    /// Records that a model of `role` from `source` now sits in the lab for `dataset`.
    pub fn record(&mut self, dataset: &str, role: Role, source: Source, note: String) {
        self.serials += 1;
        let installed = Installed {
            source,
            note,
            serial: self.serials,
        };
        self.installed
            .retain(|(d, r, _)| !(d == dataset && *r == role));
        self.installed.push((dataset.into(), role, installed));
    }

    /// Whether no model was installed at all.
    pub fn is_empty(&self) -> bool {
        self.installed.is_empty()
    }
}

/// The page's record of installed models.
pub type StartingSignal = RwSignal<StartingModels>;

/// The installed model of `role` for the dataset on the page (reactive).
pub fn shown(
    lab: LabStore,
    load: RwSignal<LoadState>,
    starting: StartingSignal,
    role: Role,
) -> Option<Installed> {
    load.track();
    let name = lab.with_value(|l| l.as_ref().map(|l| l.dataset.name.clone()))?;
    starting.with(|s| s.get(&name, role).cloned())
}

/// Calls `reset` each time a model of `role` is installed for the dataset on the page while
/// it stays on the page (a model file loaded over a trained one), so its panel puts away the
/// trained model's figures and shows the new one's. A switch of dataset is no such event.
pub fn on_install(
    lab: LabStore,
    load: RwSignal<LoadState>,
    starting: StartingSignal,
    role: Role,
    reset: impl Fn() + 'static,
) {
    Effect::new(move |seen: Option<(Option<String>, Option<u64>)>| {
        load.track();
        let name = lab.with_value(|l| l.as_ref().map(|l| l.dataset.name.clone()));
        let serial = name
            .as_ref()
            .and_then(|n| starting.with(|s| s.get(n, role).map(|i| i.serial)));
        if let Some((seen_name, seen_serial)) = seen
            && seen_name == name
            && serial.is_some()
            && serial != seen_serial
        {
            untrack(&reset);
        }
        (name, serial)
    });
}

/// Shows the figures of a model of `role` installed without training (shipped, saved, loaded
/// from a file) until the visitor trains one: `reset` puts the panel's trained figures away when
/// such a model is installed ([`on_install`]); while the panel is `idle`, `measure` starts
/// computing the figures from the lab (`None` while it has no such model) and `show` shows
/// them if the panel is still idle when they are ready. A failure becomes a notice. Returns
/// what the panel shows: the installed model while the panel is idle (tracked).
#[allow(
    clippy::too_many_arguments,
    reason = "the panel's signals and its three steps"
)]
pub fn show_installed<T, F>(
    lab: LabStore,
    load: RwSignal<LoadState>,
    starting: StartingSignal,
    notices: Notices,
    role: Role,
    idle: impl Fn() -> bool + Copy + 'static,
    reset: impl Fn() + 'static,
    measure: impl Fn(&Lab) -> Option<F> + 'static,
    show: impl Fn(T) + Copy + 'static,
) -> impl Fn() -> Option<Installed> + Copy + 'static
where
    T: 'static,
    F: Future<Output = Result<T, String>> + 'static,
{
    let shows = move || shown(lab, load, starting, role).filter(|_| idle());
    on_install(lab, load, starting, role, reset);
    Effect::new(move || {
        let Some(installed) = shows() else {
            return;
        };
        let Some(figures) = lab.with_value(|l| l.as_ref().and_then(&measure)) else {
            return;
        };
        spawn_local(async move {
            match figures.await {
                Ok(value) if untrack(idle) => show(value),
                Ok(_) => {}
                Err(e) => notify(
                    notices,
                    true,
                    format!("Evaluating {} failed: {e}", installed.describe(role)),
                ),
            }
        });
    });
    shows
}

/// URL of a pretrained model file.
fn url(dataset: &str, role: Role) -> String {
    format!("models/{dataset}-{}.dmplm", role.name())
}

/// Fetches, checks and installs the pretrained models of the lab's dataset where the lab has
/// no model of that role yet (a model the visitor trained or saved is never replaced), and
/// records them in `starting`.
pub async fn install(lab: LabStore, starting: StartingSignal) -> Result<(), String> {
    let (dataset, shape, device, empty) = lab
        .with_value(|l| {
            l.as_ref().map(|l| {
                (
                    l.dataset.name.clone(),
                    l.shape,
                    l.device.clone(),
                    [l.classifier.is_none(), l.autoencoder.is_none()],
                )
            })
        })
        .ok_or("the data is not loaded")?;
    let mut files = Vec::new();
    for (role, _) in Role::ALL.into_iter().zip(empty).filter(|(_, e)| *e) {
        let url = url(&dataset, role);
        let bytes = fetch_bytes(&url).await?;
        let file = ModelFile::decode(&bytes).map_err(|e| format!("{url}: {e}"))?;
        if file.dataset != dataset || file.shape != shape {
            return Err(format!(
                "{url} was trained on {} images of another shape",
                file.dataset
            ));
        }
        files.push((role, file));
    }
    let classifier = match files.iter().find(|(r, _)| *r == Role::Classifier) {
        Some((_, f)) => Some(f.to_classifier(&device).map_err(|e| e.to_string())?),
        None => None,
    };
    let autoencoder = match files.iter().find(|(r, _)| *r == Role::Autoencoder) {
        Some((_, f)) => Some(f.to_autoencoder(&device).map_err(|e| e.to_string())?),
        None => None,
    };
    let installed = lab
        .try_update_value(|l| {
            let l = l.as_mut().filter(|l| l.dataset.name == dataset)?;
            let mut installed = Vec::new();
            if let Some(c) = classifier.filter(|_| l.classifier.is_none()) {
                l.classifier = Some(c);
                installed.push(Role::Classifier);
            }
            if let Some(a) = autoencoder.filter(|_| l.autoencoder.is_none()) {
                l.autoencoder = Some(a);
                installed.push(Role::Autoencoder);
            }
            Some(installed)
        })
        .flatten()
        .unwrap_or_default();
    starting.update(|s| {
        for (role, file) in files.into_iter().filter(|(r, _)| installed.contains(r)) {
            s.record(&dataset, role, Source::Pretrained, file.note);
        }
    });
    Ok(())
}
