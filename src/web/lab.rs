//! What a visitor has in this page: the device, the dataset on it, the trained classifier and
//! the trained autoencoder, and the models trained on the other datasets.
//! Held outside the reactive graph (burn values are not signals); panels read and replace it.
//!
//! Models belong to the dataset they were trained on: switching to another dataset puts them
//! on a shelf and brings back the ones trained on that dataset before, and
//! [`keep_per_dataset`] does the same for what a panel shows about them. While a model
//! trains ([`Running`]), the dataset cannot be switched.

use crate::ml::autoencoder::Autoencoder;
use crate::ml::batch::DeviceSplit;
use crate::ml::dataset::Dataset;
use crate::ml::model::{Classifier, ImageShape};
use burn::prelude::Device;
use leptos::prelude::*;

/// The page's loaded data and trained models.
pub struct Lab {
    pub device: Device,
    pub dataset: Dataset,
    pub shape: ImageShape,
    pub train: DeviceSplit,
    pub test: DeviceSplit,
    /// The last classifier that finished an epoch; kept when a later run fails or is cancelled.
    pub classifier: Option<Classifier>,
    /// The last autoencoder (the model of the image manifold) that finished an epoch.
    pub autoencoder: Option<Autoencoder>,
    /// The models trained on other datasets, by dataset name.
    shelf: Vec<(String, Option<Classifier>, Option<Autoencoder>)>,
    /// How many training runs are going on.
    runs: RwSignal<usize>,
}

impl Lab {
    /// Uploads `dataset` to `device`.
    pub fn new(device: Device, dataset: Dataset) -> Self {
        Self::upload(device, dataset, RwSignal::new(0))
    }

    fn upload(device: Device, dataset: Dataset, runs: RwSignal<usize>) -> Self {
        let shape = ImageShape::of(&dataset);
        let train = DeviceSplit::upload(&dataset, &dataset.train, &device);
        let test = DeviceSplit::upload(&dataset, &dataset.test, &device);
        Self {
            device,
            dataset,
            shape,
            train,
            test,
            classifier: None,
            autoencoder: None,
            shelf: Vec::new(),
            runs,
        }
    }

    /// Replaces the dataset, uploading it to the device. Another part of the same dataset
    /// (the MNIST bundle or the full set: the same name) keeps the trained models; another
    /// dataset puts them on the shelf and brings back those trained on it before, if any.
    pub fn replace_dataset(&mut self, dataset: Dataset) {
        let device = self.device.clone();
        let mut shelf = std::mem::take(&mut self.shelf);
        let mut classifier = self.classifier.take();
        let mut autoencoder = self.autoencoder.take();
        if dataset.name != self.dataset.name {
            shelf.push((self.dataset.name.clone(), classifier, autoencoder));
            (classifier, autoencoder) = match shelf.iter().position(|s| s.0 == dataset.name) {
                Some(i) => {
                    let (_, c, a) = shelf.remove(i);
                    (c, a)
                }
                None => (None, None),
            };
        }
        *self = Self {
            classifier,
            autoencoder,
            shelf,
            ..Self::upload(device, dataset, self.runs)
        };
    }

    /// Whether models trained on the dataset named `name` wait on the shelf.
    pub fn has_shelved(&self, name: &str) -> bool {
        self.shelf
            .iter()
            .any(|(n, c, a)| n == name && (c.is_some() || a.is_some()))
    }

    /// The name of class `k` of the dataset ("7" for MNIST, "Sneaker" for Fashion-MNIST).
    pub fn class_name(&self, k: u8) -> String {
        self.dataset
            .class_names
            .get(usize::from(k))
            .cloned()
            .unwrap_or_else(|| k.to_string())
    }

    /// Whether a model is training now (reactive: a closure that asks is re-run when a run
    /// starts or ends).
    pub fn training(&self) -> bool {
        self.runs.get() > 0
    }
}

/// A training run in progress: while one exists, the dataset cannot be switched (the run
/// trains on the data it started with, and its model belongs to that dataset).
pub struct Running(RwSignal<usize>);

impl Running {
    /// Marks a run as started; it ends when the value is dropped.
    pub fn start(lab: LabStore) -> Option<Self> {
        let runs = lab.with_value(|l| l.as_ref().map(|l| l.runs))?;
        runs.update(|n| *n += 1);
        Some(Self(runs))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.update(|n| *n = n.saturating_sub(1));
    }
}

/// Keeps what a panel shows about its model apart for each dataset: when the visitor switches
/// to another dataset, `take` reads the figures shown for the old one, which are put away,
/// and `show` puts up those of the new one (`T::default()`, "not trained yet", the first
/// time). A switch between parts of one dataset changes nothing.
pub fn keep_per_dataset<T: Default + 'static>(
    lab: LabStore,
    load: RwSignal<LoadState>,
    take: impl Fn() -> T + 'static,
    show: impl Fn(T) + 'static,
) {
    let shown_for = StoredValue::new_local(None::<String>);
    let put_away = StoredValue::new_local(Vec::<(String, T)>::new());
    Effect::new(move || {
        if load.get() != LoadState::Ready {
            return;
        }
        let Some(name) = lab.with_value(|l| l.as_ref().map(|l| l.dataset.name.clone())) else {
            return;
        };
        let Some(previous) = shown_for
            .try_update_value(|s| s.replace(name.clone()))
            .flatten()
        else {
            return;
        };
        if previous == name {
            return;
        }
        untrack(|| {
            let figures = take();
            let back = put_away
                .try_update_value(|away| {
                    away.push((previous, figures));
                    let i = away.iter().position(|(n, _)| *n == name)?;
                    Some(away.remove(i).1)
                })
                .flatten();
            show(back.unwrap_or_default());
        });
    });
}

/// The lab, once loaded, shared by the panels.
pub type LabStore = StoredValue<Option<Lab>, LocalStorage>;

/// How loading is going.
#[derive(Clone, Debug, PartialEq)]
pub enum LoadState {
    Loading(String),
    Ready,
    Failed(String),
}

/// A message for the visitor about their input or about something that went wrong.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    pub error: bool,
    pub text: String,
}

/// The page's list of notices.
pub type Notices = RwSignal<Vec<Notice>>;

/// Adds a warning (`error == false`) or an error to the page's notices.
pub fn notify(notices: Notices, error: bool, text: impl Into<String>) {
    let text = text.into();
    leptos::logging::log!("notice: {text}");
    notices.update(|n| n.push(Notice { error, text }));
}

/// One test image: its pixels and its true class.
#[derive(Clone, Debug, PartialEq)]
pub struct TestDigit {
    pub pixels: Vec<u8>,
    pub label: u8,
}

/// The first `count` test images with their width and height, once the data is loaded
/// (empty before); recomputed when the dataset changes.
pub fn first_test_digits(
    lab: LabStore,
    load: RwSignal<LoadState>,
    count: usize,
) -> Memo<(Vec<TestDigit>, usize, usize)> {
    Memo::new(move |_| {
        if load.get() != LoadState::Ready {
            return (Vec::new(), 0, 0);
        }
        lab.with_value(|l| {
            let Some(l) = l else {
                return (Vec::new(), 0, 0);
            };
            let d = &l.dataset;
            let digits = (0..count.min(d.test.len()))
                .map(|i| TestDigit {
                    pixels: d.image(&d.test, i).to_vec(),
                    label: d.test.labels[i],
                })
                .collect();
            (digits, d.width, d.height)
        })
    })
}
