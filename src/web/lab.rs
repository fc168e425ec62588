//! What a visitor has in this page: the device, the dataset on it, the trained classifier and
//! the trained autoencoder.
//! Held outside the reactive graph (burn values are not signals); panels read and replace it.

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
}

impl Lab {
    /// Uploads `dataset` to `device`.
    pub fn new(device: Device, dataset: Dataset) -> Self {
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
        }
    }

    /// Replaces the dataset (uploading it to the device) and keeps the trained models.
    pub fn replace_dataset(&mut self, dataset: Dataset) {
        let device = self.device.clone();
        let classifier = self.classifier.take();
        let autoencoder = self.autoencoder.take();
        *self = Self {
            classifier,
            autoencoder,
            ..Self::new(device, dataset)
        };
    }
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
