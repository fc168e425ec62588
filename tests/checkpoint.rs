//! Model files: a model survives the round trip through bytes, and every damaged or foreign
//! file is refused with the right reason, never turned into a model.

use burn::prelude::*;
use dimple::ml::autoencoder::{Autoencoder, AutoencoderKind};
use dimple::ml::checkpoint::{ModelFile, ModelFileError, ModelKind, Precision};
use dimple::ml::model::{Classifier, ClassifierKind, ImageShape};
use dimple::ml::rng::Rng;

fn images(count: usize) -> Tensor<2> {
    let mut rng = Rng::new(7);
    let n = ImageShape::MNIST.pixels();
    let v: Vec<f32> = (0..count * n).map(|_| rng.unit_f32()).collect();
    Tensor::from_data(TensorData::new(v, [count, n]), &Device::flex())
}

fn values(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

fn classifier_file(kind: ClassifierKind) -> (Classifier, ModelFile) {
    let device = Device::flex();
    let model = Classifier::new(kind, ImageShape::MNIST, &device);
    let file = pollster::block_on(ModelFile::of_classifier(
        &model,
        ImageShape::MNIST,
        "mnist",
        "test",
    ))
    .unwrap();
    (model, file)
}

#[test]
fn classifiers_round_trip_exactly_in_f32_and_closely_in_f16() {
    let device = Device::flex();
    for kind in ClassifierKind::ALL {
        let (model, file) = classifier_file(kind);
        assert_eq!(file.kind, ModelKind::Classifier(kind));
        let x = images(4);
        let expected = values(model.forward(x.clone()));
        let bytes = file.encode(Precision::F32);
        let back = ModelFile::decode(&bytes).unwrap();
        assert_eq!(back, file);
        let loaded = back.to_classifier(&device).unwrap();
        assert_eq!(values(loaded.forward(x.clone())), expected, "{kind}");

        let half = file.encode(Precision::F16);
        // Header and checksum are the same; each value takes 2 bytes instead of 4.
        assert_eq!(bytes.len() - half.len(), 2 * file.parameters());
        let loaded = ModelFile::decode(&half)
            .unwrap()
            .to_classifier(&device)
            .unwrap();
        let got = values(loaded.forward(x));
        let scale = expected.iter().fold(0f32, |a, v| a.max(v.abs()));
        for (a, b) in got.iter().zip(&expected) {
            assert!((a - b).abs() <= 1e-2 * scale.max(1.0), "{kind}: {a} vs {b}");
        }
    }
}

#[test]
fn autoencoders_round_trip_and_keep_their_latent_dimension() {
    let device = Device::flex();
    for (kind, latent) in [(AutoencoderKind::Conv, 16), (AutoencoderKind::Mlp, 5)] {
        let model = Autoencoder::new(kind, latent, ImageShape::MNIST, &device).unwrap();
        let file = pollster::block_on(ModelFile::of_autoencoder(
            &model,
            ImageShape::MNIST,
            "mnist",
            "",
        ))
        .unwrap();
        assert_eq!(file.kind, ModelKind::Autoencoder { kind, latent });
        let loaded = ModelFile::decode(&file.encode(Precision::F32))
            .unwrap()
            .to_autoencoder(&device)
            .unwrap();
        assert_eq!(loaded.latent(), latent);
        let x = images(3);
        assert_eq!(
            values(loaded.reconstruct(x.clone())),
            values(model.reconstruct(x))
        );
        // An autoencoder file is not a classifier.
        let err = file.to_classifier(&device).unwrap_err();
        assert!(matches!(err, ModelFileError::Invalid(_)), "{err}");
    }
}

#[test]
fn damaged_and_foreign_files_are_refused_with_their_reason() {
    let (_, file) = classifier_file(ClassifierKind::Cnn);
    let bytes = file.encode(Precision::F16);
    // Cut anywhere: refused as incomplete or corrupt, never a model and never a panic.
    let cuts = (0..bytes.len())
        .step_by(bytes.len() / 300 + 1)
        .chain(bytes.len() - 9..bytes.len());
    for cut in cuts {
        match ModelFile::decode(&bytes[..cut]) {
            Err(ModelFileError::Truncated | ModelFileError::Checksum | ModelFileError::Foreign) => {
            }
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
    // Past the header a cut cannot be told from corruption, so either reason is right; a
    // cut inside the header must say incomplete.
    assert_eq!(
        ModelFile::decode(&bytes[..20]),
        Err(ModelFileError::Truncated)
    );
    // Any flipped byte after the magic is caught.
    let mut rng = Rng::new(3);
    for _ in 0..200 {
        let mut damaged = bytes.clone();
        let at = 12 + (rng.next_u64() as usize) % (damaged.len() - 12);
        damaged[at] ^= 1 << (rng.next_u64() % 8);
        assert_eq!(
            ModelFile::decode(&damaged),
            Err(ModelFileError::Checksum),
            "byte {at}"
        );
    }
    // Other files.
    assert_eq!(ModelFile::decode(b""), Err(ModelFileError::Foreign));
    assert_eq!(
        ModelFile::decode(b"\x89PNG\r\n\x1a\n0000000000000000"),
        Err(ModelFileError::Foreign)
    );
    let mut future = bytes.clone();
    future[8..12].copy_from_slice(&2u32.to_le_bytes());
    assert_eq!(
        ModelFile::decode(&future),
        Err(ModelFileError::FutureVersion(2))
    );
}

#[test]
fn a_file_whose_tensors_do_not_fit_its_architecture_is_invalid() {
    let device = Device::flex();
    let (_, mlp) = classifier_file(ClassifierKind::Mlp);
    // The MLP's tensors under a CNN header: well-formed, checksum right, wrong shapes.
    let relabelled = ModelFile {
        kind: ModelKind::Classifier(ClassifierKind::Cnn),
        ..mlp.clone()
    };
    let decoded = ModelFile::decode(&relabelled.encode(Precision::F16)).unwrap();
    match decoded.to_classifier(&device) {
        Err(ModelFileError::Invalid(why)) => assert!(why.contains("shape"), "{why}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    // One tensor too many, and one too few.
    let mut extra = mlp.clone();
    extra.tensors.push(extra.tensors[0].clone());
    assert!(matches!(
        extra.to_classifier(&device),
        Err(ModelFileError::Invalid(_))
    ));
    let mut fewer = mlp.clone();
    fewer.tensors.pop();
    assert!(matches!(
        fewer.to_classifier(&device),
        Err(ModelFileError::Invalid(_))
    ));
    // A non-finite weight is refused when read.
    let mut nan = mlp;
    nan.tensors[1].values[0] = f32::NAN;
    assert!(matches!(
        ModelFile::decode(&nan.encode(Precision::F32)),
        Err(ModelFileError::Invalid(_))
    ));
}

#[test]
fn the_shipped_pretrained_models_are_what_they_claim() {
    use dimple::ml::autoencoder::reconstruction_error;
    use dimple::ml::batch::DeviceSplit;
    use dimple::ml::dataset::Dataset;
    use dimple::ml::train::evaluate;
    let device = Device::flex();
    let read = |name: &str| std::fs::read(format!("static/models/{name}")).unwrap();
    let (c, a) = (
        read("mnist-classifier.dmplm"),
        read("mnist-autoencoder.dmplm"),
    );
    assert!(
        c.len() + a.len() <= 1_000_000,
        "{} + {} bytes",
        c.len(),
        a.len()
    );
    let data =
        Dataset::decode_packed(&std::fs::read("static/data/mnist-bundle.dmpl.zlib").unwrap())
            .unwrap();
    let test = DeviceSplit::upload(&data, &data.test, &device);
    let (images, labels) = test.range(0, test.len());

    let file = ModelFile::decode(&c).unwrap();
    assert_eq!(file.dataset, "mnist");
    let classifier = file.to_classifier(&device).unwrap();
    let t = evaluate(&classifier, images.clone(), labels)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let accuracy = t[1] / test.len() as f32;
    assert!(accuracy > 0.96, "pretrained accuracy {accuracy}");
    // The note states the accuracy it was trained to.
    assert!(
        file.note.contains(&format!("{:.2}%", 100.0 * accuracy)),
        "{}",
        file.note
    );

    let autoencoder = ModelFile::decode(&a)
        .unwrap()
        .to_autoencoder(&device)
        .unwrap();
    assert_eq!(autoencoder.latent(), 16);
    let mse = reconstruction_error(&autoencoder, images)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    // A sum over the images of each one's mean squared error per pixel.
    let mean = mse[0] / test.len() as f32;
    assert!(mean < 0.02, "reconstruction error {mean}");
}
