//! Model files: a model survives the round trip through bytes, and every damaged or foreign
//! file is refused with the right reason, never turned into a model.

use burn::prelude::*;
use dimple::ml::autoencoder::{Autoencoder, AutoencoderKind};
use dimple::ml::checkpoint::{ModelFile, ModelFileError, ModelKind, Precision, StoredTensor};
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
fn classifiers_round_trip_exactly_in_f32_and_closely_in_f16_and_8_bits() {
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
        let got = values(loaded.forward(x.clone()));
        let scale = expected.iter().fold(0f32, |a, v| a.max(v.abs()));
        for (a, b) in got.iter().zip(&expected) {
            assert!((a - b).abs() <= 1e-2 * scale.max(1.0), "{kind}: {a} vs {b}");
        }

        let q8 = file.encode(Precision::Q8);
        assert_eq!(
            bytes.len() - q8.len(),
            3 * file.parameters() - 8 * file.tensors.len()
        );
        let loaded = ModelFile::decode(&q8)
            .unwrap()
            .to_classifier(&device)
            .unwrap();
        let got = values(loaded.forward(x));
        for (a, b) in got.iter().zip(&expected) {
            assert!((a - b).abs() <= 5e-2 * scale.max(1.0), "{kind}: {a} vs {b}");
        }
    }
}

/// `file` holding one tensor per row of `rows`, shaped as a vector.
fn file_of(file: &ModelFile, rows: &[Vec<f32>]) -> ModelFile {
    let mut file = file.clone();
    file.tensors = rows
        .iter()
        .map(|v| StoredTensor {
            shape: vec![v.len()],
            values: v.clone(),
        })
        .collect();
    file
}

#[test]
fn at_8_bits_every_value_moves_by_at_most_half_a_step_of_its_tensor_range() {
    let (_, mlp) = classifier_file(ClassifierKind::Mlp);
    let mut rng = Rng::new(11);
    for trial in 0..200 {
        // Tensors of every scale, sign and spread, with the degenerate ones: one value, all
        // equal, and a lone outlier.
        let scale = 10f32.powi(rng.below(13) as i32 - 6);
        let len = 1 + rng.below(300);
        let mut values: Vec<f32> = (0..len)
            .map(|_| scale * (2.0 * rng.unit_f32() - 1.0))
            .collect();
        match trial % 5 {
            0 => values.iter_mut().for_each(|v| *v = scale),
            1 => values[0] = 1e3 * scale,
            _ => {}
        }
        let file = file_of(&mlp, &[values.clone(), vec![-scale, scale]]);
        let bytes = file.encode(Precision::Q8);
        // A byte a value and two f32 a tensor, against four bytes a value.
        let f32_bytes = file.encode(Precision::F32).len();
        assert_eq!(f32_bytes - bytes.len(), 3 * (len + 2) - 8 * 2);
        let back = ModelFile::decode(&bytes).unwrap();
        let got = &back.tensors[0].values;
        let (lo, hi) = values
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        let half_step = (hi - lo) / 510.0;
        for (a, b) in got.iter().zip(&values) {
            assert!(
                (a - b).abs() <= half_step * 1.0001 + hi.abs().max(lo.abs()) * 1e-6,
                "trial {trial}: {a} for {b}, half a step {half_step}"
            );
        }
        // The least value is kept exactly, and a second round changes nothing more.
        assert_eq!(got.iter().copied().fold(f32::MAX, f32::min), lo);
        let again = ModelFile::decode(&back.encode(Precision::Q8)).unwrap();
        for (a, b) in again.tensors[0].values.iter().zip(got) {
            assert!(
                (a - b).abs() <= half_step * 1e-3 + hi.abs().max(lo.abs()) * 1e-6,
                "trial {trial}: {a} for {b}"
            );
        }
    }
}

#[test]
fn at_8_bits_the_widest_finite_range_survives_and_a_non_finite_weight_is_refused() {
    let (_, mlp) = classifier_file(ClassifierKind::Mlp);
    // The distance from the least to the greatest is past f32's range.
    let wide = vec![-f32::MAX, 0.0, f32::MAX];
    let back = ModelFile::decode(&file_of(&mlp, std::slice::from_ref(&wide)).encode(Precision::Q8))
        .unwrap();
    let got = &back.tensors[0].values;
    assert_eq!(got[0], -f32::MAX);
    let half_step = f32::MAX / 255.0;
    for (a, b) in got.iter().zip(&wide) {
        assert!(
            (f64::from(*a) - f64::from(*b)).abs() <= 1.001 * f64::from(half_step),
            "{a} for {b}"
        );
    }
    // As in f32 and f16 files, a weight that is not a number is refused when read.
    for bad in [f32::NAN, f32::INFINITY] {
        let file = file_of(&mlp, &[vec![1.0, bad, 2.0]]);
        for precision in [Precision::F32, Precision::F16, Precision::Q8] {
            assert!(
                matches!(
                    ModelFile::decode(&file.encode(precision)),
                    Err(ModelFileError::Invalid(_))
                ),
                "{bad} at {precision:?}"
            );
        }
    }
}

#[test]
fn an_8_bit_file_with_an_impossible_step_is_invalid() {
    let (_, mlp) = classifier_file(ClassifierKind::Mlp);
    let file = file_of(&mlp, &[vec![0.0, 1.0, 2.0]]);
    let bytes = file.encode(Precision::Q8);
    // The step is the f32 before the last 3 value bytes and the 8-byte checksum.
    let at = bytes.len() - 8 - 3 - 4;
    assert_eq!(&bytes[at..at + 4], &(2f32 / 255.0).to_le_bytes());
    for step in [-1.0, f32::NAN, f32::INFINITY] {
        let mut bad = bytes[..bytes.len() - 8].to_vec();
        bad[at..at + 4].copy_from_slice(&f32::to_le_bytes(step));
        let sum = dimple::ml::dataset::fnv1a64(&bad);
        bad.extend(sum.to_le_bytes());
        assert!(
            matches!(ModelFile::decode(&bad), Err(ModelFileError::Invalid(_))),
            "step {step}: {:?}",
            ModelFile::decode(&bad).map(|f| f.tensors)
        );
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
    // A byte a weight: 8-bit values, not half precision.
    let params = |bytes: &[u8]| ModelFile::decode(bytes).unwrap().parameters();
    assert!(
        c.len() + a.len() <= params(&c) + params(&a) + 4096,
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
