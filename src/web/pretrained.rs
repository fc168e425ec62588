//! The pretrained models the page starts with: a classifier and an autoencoder trained by the
//! native program (`dimple pretrain`) on the bundled data and shipped as model files under
//! `models/`, so a first visit shows the four views without any training.

use super::browser::fetch_bytes;
use super::lab::LabStore;
use crate::ml::checkpoint::ModelFile;
use leptos::prelude::*;

/// What was installed, for the panels to say so.
#[derive(Clone, Debug, PartialEq)]
pub struct Pretrained {
    /// The dataset the models were trained on.
    pub dataset: String,
    /// How each was trained (the files' notes).
    pub classifier: String,
    pub autoencoder: String,
}

/// URL of a pretrained model file.
fn url(dataset: &str, role: &str) -> String {
    format!("models/{dataset}-{role}.dmplm")
}

/// Fetches, checks and installs the pretrained models of the lab's dataset where the lab has
/// no model of that role yet (a model the visitor trained is never replaced).
pub async fn install(lab: LabStore) -> Result<Pretrained, String> {
    let (dataset, shape, device) = lab
        .with_value(|l| {
            l.as_ref()
                .map(|l| (l.dataset.name.clone(), l.shape, l.device.clone()))
        })
        .ok_or("the data is not loaded")?;
    let read = |role: &'static str| {
        let dataset = dataset.clone();
        async move {
            let bytes = fetch_bytes(&url(&dataset, role)).await?;
            let file =
                ModelFile::decode(&bytes).map_err(|e| format!("{}: {e}", url(&dataset, role)))?;
            if file.dataset != dataset || file.shape != shape {
                return Err(format!(
                    "{} was trained on {} images of another shape",
                    url(&dataset, role),
                    file.dataset
                ));
            }
            Ok::<_, String>(file)
        }
    };
    let classifier_file = read("classifier").await?;
    let autoencoder_file = read("autoencoder").await?;
    let classifier = classifier_file
        .to_classifier(&device)
        .map_err(|e| e.to_string())?;
    let autoencoder = autoencoder_file
        .to_autoencoder(&device)
        .map_err(|e| e.to_string())?;
    lab.update_value(|l| {
        if let Some(l) = l.as_mut().filter(|l| l.dataset.name == dataset) {
            l.classifier.get_or_insert(classifier);
            l.autoencoder.get_or_insert(autoencoder);
        }
    });
    Ok(Pretrained {
        dataset,
        classifier: classifier_file.note,
        autoencoder: autoencoder_file.note,
    })
}
