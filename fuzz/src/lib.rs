//! Fuzz targets for the decoders of everything the page reads from outside: data files
//! ([`unpack_at_most`] and [`Dataset::decode`]), model files ([`ModelFile::decode`] and the
//! models built from them), pictures (the RGBA pixels of an upload or a drawing through
//! [`ink_from_rgba`] and [`mnist_like`]) and links (the query string through [`link::parse`]). Each target takes
//! arbitrary bytes and panics only on a bug: a decoder must refuse bad input with an error or
//! a notice, never crash, and what it accepts must be usable.
//!
//! Both formats carry a checksum, which random mutations almost never keep valid; each target
//! therefore decodes the bytes once as given and once with the checksum recomputed, so the
//! mutations reach the fields behind it.

use burn::prelude::{Device, Tensor, TensorData};
use dimple::link::{self, Settings};
use dimple::ml::autoencoder::{Autoencoder, AutoencoderKind};
use dimple::ml::checkpoint::{ModelFile, ModelKind, Precision};
use dimple::ml::dataset::{Dataset, HEADER_LEN, MAGIC, Split, fnv1a64, unpack_at_most};
use dimple::ml::model::{Classifier, ClassifierKind, ImageShape};
use dimple::ml::preprocess::{SIDE, ink_from_rgba, mnist_like};
use dimple::ml::read_f32;

/// Where a data file keeps the checksum of its body: after the magic and eight u32 fields.
const DATASET_CHECKSUM_AT: usize = MAGIC.len() + 4 * 8;

/// Largest model (parameters) and input (pixels) that [`model_file`] also runs, so that one
/// input stays fast; larger accepted models are only built.
const RUN_PARAMETERS: usize = 1 << 20;
const RUN_PIXELS: usize = 1 << 14;

/// A fuzz target: takes any bytes, returns whether a decoder accepted some form of them.
pub type Target = fn(&[u8]) -> bool;

/// The fuzz targets by name, as `cargo fuzz` and the stable driver call them. Each returns
/// whether a decoder accepted some form of the input (the stable driver keeps those).
pub const TARGETS: [(&str, Target); 4] = [
    ("dataset", dataset),
    ("model_file", model_file),
    ("preprocess", preprocess),
    ("url_state", url_state),
];

/// Most bytes a fuzzed data file unpacks to, so that a bomb stays quick.
const FUZZ_FILE_LEN: usize = 1 << 24;

/// A data file, packed as Dimple ships it or plain: unpacked (a bomb stops at the limit),
/// then decoded as given and with its body checksum recomputed. A file that decodes must be
/// consistent and encode, packed, to a file that decodes to the same dataset.
pub fn dataset(data: &[u8]) -> bool {
    let Ok(data) = unpack_at_most(data, FUZZ_FILE_LEN) else {
        return false;
    };
    let mut accepted = check_dataset(&data);
    if data.len() >= HEADER_LEN {
        let mut fixed = data.to_vec();
        let sum = fnv1a64(&fixed[HEADER_LEN..]);
        fixed[DATASET_CHECKSUM_AT..DATASET_CHECKSUM_AT + 8].copy_from_slice(&sum.to_le_bytes());
        accepted |= check_dataset(&fixed);
    }
    accepted
}

fn check_dataset(bytes: &[u8]) -> bool {
    let Ok(d) = Dataset::decode(bytes) else {
        return false;
    };
    d.validate().expect("a decoded dataset is consistent");
    for split in [&d.train, &d.test] {
        for i in 0..split.len() {
            assert_eq!(d.image(split, i).len(), d.image_len());
        }
    }
    let again = d.encode_packed().expect("a decoded dataset encodes");
    assert_eq!(
        Dataset::decode_packed(&again).as_ref(),
        Ok(&d),
        "round trip"
    );
    true
}

/// A model file: decoded as given and with its trailing checksum recomputed. A file that
/// decodes must re-encode to the same model, and the model it names is built on the CPU; a
/// model that builds must run (small ones are run on a blank image).
pub fn model_file(data: &[u8]) -> bool {
    let mut accepted = check_model(data);
    if data.len() >= 8 {
        let mut fixed = data[..data.len() - 8].to_vec();
        let sum = fnv1a64(&fixed);
        fixed.extend_from_slice(&sum.to_le_bytes());
        accepted |= check_model(&fixed);
    }
    accepted
}

fn check_model(bytes: &[u8]) -> bool {
    let Ok(file) = ModelFile::decode(bytes) else {
        return false;
    };
    let again = ModelFile::decode(&file.encode(Precision::F32));
    assert_eq!(again.as_ref(), Ok(&file), "round trip");
    let device = Device::flex();
    let pixels = file.shape.height * file.shape.width;
    let run = file.parameters() <= RUN_PARAMETERS && pixels <= RUN_PIXELS;
    let blank =
        || Tensor::<2>::from_data(TensorData::new(vec![0.5f32; pixels], [1, pixels]), &device);
    match file.kind {
        ModelKind::Classifier(_) => {
            assert!(
                file.to_autoencoder(&device).is_err(),
                "a classifier is no autoencoder"
            );
            if let Ok(model) = file.to_classifier(&device)
                && run
            {
                let p = pollster::block_on(read_f32(model.probabilities(blank())))
                    .expect("CPU readback");
                assert_eq!(p.len(), file.shape.classes);
            }
        }
        ModelKind::Autoencoder { .. } => {
            assert!(
                file.to_classifier(&device).is_err(),
                "an autoencoder is no classifier"
            );
            if let Ok(model) = file.to_autoencoder(&device)
                && run
            {
                let r =
                    pollster::block_on(read_f32(model.reconstruct(blank()))).expect("CPU readback");
                assert_eq!(r.len(), pixels);
            }
        }
    }
    true
}

/// A picture as the page gets it: the first two bytes give its width and height (0 to 64),
/// the rest its RGBA pixels (repeated to fill the picture). It becomes an ink map and then an
/// MNIST-like digit or the error "no ink"; the bytes are also fed to [`mnist_like`] directly
/// as `f32` values (NaN and infinity included), which must not panic either.
pub fn preprocess(data: &[u8]) -> bool {
    let Some((&[w, h], rgba)) = data.split_first_chunk::<2>() else {
        return false;
    };
    let (width, height) = (usize::from(w % 65), usize::from(h % 65));
    let len = width * height * 4;
    let pixels: Vec<u8> = if rgba.is_empty() {
        vec![0; len]
    } else {
        rgba.iter().copied().cycle().take(len).collect()
    };
    let ink = ink_from_rgba(&pixels, width, height);
    assert_eq!(ink.len(), width * height);
    assert!(ink.iter().all(|v| (0.0..=1.0).contains(v)), "ink in [0, 1]");
    let digit = mnist_like(&ink, width, height);
    if let Ok(digit) = &digit {
        assert_eq!(digit.len(), SIDE * SIDE);
        assert!(
            digit.iter().all(|v| (0.0..=1.0).contains(v)),
            "digit in [0, 1]"
        );
    }
    let raw: Vec<f32> = rgba
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let side = (raw.len() as f64).sqrt() as usize;
    let _ = mnist_like(&raw[..side * side], side, side);
    let _ = mnist_like(&raw, raw.len(), 1);
    digit.is_ok()
}

/// A query string as the page reads it from its address: the bytes as UTF-8, a broken
/// sequence replaced (as in a browser's `location.search`). Whatever the link says, the
/// settings read from it must all be valid, and their canonical link must read back to the
/// same settings without a notice and be its own canonical link; every part that decodes
/// must also come back from being encoded. Returns whether the link changed some setting.
pub fn url_state(data: &[u8]) -> bool {
    let query = String::from_utf8_lossy(data);
    let parsed = link::parse(&query);
    if !query.starts_with('?') {
        assert_eq!(
            link::parse(&format!("?{query}")),
            parsed,
            "the `?` is optional"
        );
    }
    let (canonical, invalid) = parsed.settings.query(true);
    assert_eq!(
        invalid,
        Vec::<String>::new(),
        "settings read from a link are valid"
    );
    let again = link::parse(&canonical);
    assert_eq!(
        again.notices,
        Vec::<String>::new(),
        "{canonical:?} has no problem"
    );
    assert_eq!(again.settings, parsed.settings, "{canonical:?} reads back");
    assert_eq!(
        again.settings.query(true).0,
        canonical,
        "{canonical:?} is canonical"
    );
    for (key, value) in link::decode_query(&query).0 {
        for text in [key, value] {
            let encoded = link::encode_component(&text);
            assert_eq!(link::decode_component(&encoded), Some(text), "{encoded:?}");
        }
    }
    parsed.settings != Settings::default()
}

/// Links that change some setting: each preset's, the e2e tests' shared link, and a few with
/// a problem that still set something.
const URL_LINKS: [&str; 13] = [
    "preset=clinging",
    "preset=on-off",
    "preset=random-subspace",
    "preset=adversarial-training",
    "preset=wrong-labels",
    "?backend=cpu&model=cnn&epochs=3&lr=0.001&k=8&digit=3&norm=l2&eps=3&step=0.1&steps=120\
     &target=2&search=5&plane=d-random&range_h=4&cells=48&world=sine&points=20&width=32\
     &activation=tanh&toy_epochs=50&noise=0.05&range_v=3.5&panel=slice",
    "preset=on-off&norm=linf&eps=0.3&digit=7&random_start=1",
    "embed=1&panel=toy&world=sine&pretrained=0&toy_lr=1e-3&scale=2.5",
    "dataset=fashion&model=cnn&target=&schedule=cosine&ae=conv&ae_epochs=4",
    "eps=2&eps=3&eps=4",
    "norm=linf",
    "dataset=fashion&images=full",
    "preset=clinging&world=moon&depth=3&activation=tanh",
];

/// Links that change nothing: the malformed links the e2e tests open, and invalid UTF-8.
const URL_MALFORMED: [&[u8]; 14] = [
    b"eps=abc",
    b"eps=1e999",
    b"steps=-5",
    b"steps=99999999999999999999999",
    b"model=resnet",
    b"foo=1&bar=2",
    b"%E0%A4%A=1",
    b"%FF=1&k=%FF",
    b"digit=99999",
    b"preset=nope",
    b"lr=NaN&k=1.5&world=moon",
    b"panel=%3Cscript%3Ealert(1)%3C/script%3E",
    b"k=%C3%28&eps=&ema=inf&&=",
    b"eps=\xff\xfe&cells=\xc3",
];

/// Valid inputs to start each target's corpus from: small files of every kind and precision,
/// and pictures with and without ink. Models are initialised from `seed`.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    match target {
        "dataset" => {
            let split = |n: usize, salt: u8| Split {
                labels: (0..n).map(|i| (i % 3) as u8).collect(),
                pixels: (0..n * 4)
                    .map(|i| (i as u8).wrapping_mul(37) ^ salt)
                    .collect(),
            };
            let tiny = Dataset {
                name: "tiny".into(),
                height: 2,
                width: 2,
                channels: 1,
                class_names: vec!["a".into(), "b".into(), "c".into()],
                train: split(7, 1),
                test: split(3, 9),
            };
            let empty_test = Dataset {
                test: split(0, 0),
                ..tiny.clone()
            };
            [tiny, empty_test]
                .iter()
                .flat_map(|d| [d.encode(), d.encode_packed()])
                .map(|bytes| bytes.expect("valid seed"))
                .collect()
        }
        "model_file" => {
            let device = Device::flex();
            device.seed(1);
            let small = |height, width| ImageShape {
                height,
                width,
                classes: 2,
            };
            let file = |kind, shape: ImageShape, dataset: &str| {
                let model = Classifier::new(kind, shape, &device);
                pollster::block_on(ModelFile::of_classifier(
                    &model,
                    shape,
                    dataset,
                    "fuzz seed",
                ))
                .expect("CPU readback")
            };
            let autoencoder = |kind, latent, shape: ImageShape| {
                let model = Autoencoder::new(kind, latent, shape, &device).expect("valid seed");
                pollster::block_on(ModelFile::of_autoencoder(&model, shape, "tiny", ""))
                    .expect("CPU readback")
            };
            let cnn = file(ClassifierKind::Cnn, small(4, 4), "tiny");
            let mlp = file(ClassifierKind::Mlp, small(1, 2), "tiny");
            let conv_ae = autoencoder(AutoencoderKind::Conv, 2, small(4, 4));
            let mlp_ae = autoencoder(AutoencoderKind::Mlp, 3, small(2, 1));
            vec![
                cnn.encode(Precision::F32),
                cnn.encode(Precision::F16),
                mlp.encode(Precision::F16),
                conv_ae.encode(Precision::F16),
                mlp_ae.encode(Precision::F32),
                mlp.encode(Precision::Q8),
                conv_ae.encode(Precision::Q8),
            ]
        }
        "preprocess" => {
            // A 6×5 picture: a dark stroke on white paper; the same on transparent paper; and
            // a blank one.
            let stroke = |ink: [u8; 4], paper: [u8; 4]| {
                let mut out = vec![6u8, 5];
                for y in 0..5 {
                    for x in 0..6 {
                        out.extend(if x == 2 && y > 0 { ink } else { paper });
                    }
                }
                out
            };
            vec![
                stroke([0, 0, 0, 255], [255, 255, 255, 255]),
                stroke([20, 20, 20, 255], [0, 0, 0, 0]),
                vec![3, 3],
            ]
        }
        "url_state" => URL_LINKS
            .iter()
            .map(|l| l.as_bytes())
            .chain(URL_MALFORMED)
            .map(<[u8]>::to_vec)
            .collect(),
        other => panic!("no fuzz target {other:?}"),
    }
}

/// A small seeded generator (xorshift64*), so a stable-toolchain run is reproducible.
pub struct Mutator {
    state: u64,
}

impl Mutator {
    /// A generator seeded with `seed` (any value).
    pub fn new(seed: u64) -> Self {
        Self {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        }
    }

    fn next(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// `input` changed by one to four random edits: bit flips, bytes and little-endian words
    /// set to boundary values (most header fields are u32), insertions, deletions,
    /// truncation, a copied run, or a splice with `other`.
    pub fn mutate(&mut self, input: &[u8], other: &[u8]) -> Vec<u8> {
        const WORDS: [u32; 9] = [0, 1, 2, 3, 4, 255, 65_535, 0x8000_0000, u32::MAX];
        let mut out = input.to_vec();
        for _ in 0..1 + self.below(4) {
            let at = self.below(out.len());
            match self.below(9) {
                0 if !out.is_empty() => out[at] ^= 1 << self.below(8),
                1 if !out.is_empty() => out[at] = [0, 1, 0x7f, 0x80, 0xff][self.below(5)],
                2 if !out.is_empty() => out[at] = self.next() as u8,
                3 if out.len() >= 4 => {
                    // Mostly the header, where the sizes live.
                    let at = if self.below(4) > 0 {
                        self.below(64.min(out.len() - 3))
                    } else {
                        self.below(out.len() - 3)
                    };
                    let word = WORDS[self.below(WORDS.len())].wrapping_add(self.below(3) as u32);
                    out[at..at + 4].copy_from_slice(&word.to_le_bytes());
                }
                4 => {
                    let n = 1 + self.below(8);
                    let bytes: Vec<u8> = (0..n).map(|_| self.next() as u8).collect();
                    out.splice(at..at, bytes);
                }
                5 if !out.is_empty() => {
                    let end = (at + 1 + self.below(16)).min(out.len());
                    out.drain(at..end);
                }
                6 => out.truncate(at),
                7 if out.len() >= 2 => {
                    let from = self.below(out.len());
                    let n = 1 + self.below((out.len() - from).min(32));
                    let run = out[from..from + n].to_vec();
                    out.splice(at..at, run);
                }
                8 if !other.is_empty() => {
                    let cut = self.below(other.len());
                    out.truncate(at);
                    out.extend_from_slice(&other[cut..]);
                }
                _ => out.push(self.next() as u8),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_is_accepted_by_its_decoder() {
        for d in seeds("dataset") {
            assert!(Dataset::decode(&d).is_ok());
        }
        for m in seeds("model_file") {
            let file = ModelFile::decode(&m).expect("seed decodes");
            let device = Device::flex();
            let built = match file.kind {
                ModelKind::Classifier(_) => file.to_classifier(&device).map(|_| ()),
                ModelKind::Autoencoder { .. } => file.to_autoencoder(&device).map(|_| ()),
            };
            assert!(built.is_ok(), "{:?}", file.kind);
        }
        for p in seeds("preprocess").iter().take(2) {
            let (w, h) = (usize::from(p[0]), usize::from(p[1]));
            assert!(mnist_like(&ink_from_rgba(&p[2..], w, h), w, h).is_ok());
        }
    }

    #[test]
    fn targets_accept_their_seeds_and_mutations() {
        let mut m = Mutator::new(7);
        for (name, target) in TARGETS {
            let seeds = seeds(name);
            // The last picture is blank and the malformed links set nothing: refused, as
            // they should be.
            let valid = match name {
                "preprocess" => 2,
                "url_state" => URL_LINKS.len(),
                _ => seeds.len(),
            };
            for (i, s) in seeds.iter().enumerate() {
                assert_eq!(target(s), i < valid, "{name} seed {i}");
                for _ in 0..20 {
                    target(&m.mutate(s, &seeds[0]));
                }
            }
        }
    }

    /// A data file whose image size is 2^64 - 1 bytes (1,722,007,169 × 714,156,689 × 15): the
    /// size of one labelled image overflowed, and the decoder then cut one image out of an
    /// empty body (a panic) instead of refusing the file.
    pub(crate) fn overflowing_image_size() -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for v in [1u32, 1_722_007_169, 714_156_689, 15, 1, 1, 0, 0] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&fnv1a64(&[]).to_le_bytes());
        out.extend_from_slice(b"x\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
        out
    }

    #[test]
    fn an_image_size_that_overflows_is_refused() {
        let bytes = overflowing_image_size();
        assert_eq!(bytes.len(), HEADER_LEN);
        assert!(Dataset::decode(&bytes).is_err());
        assert!(!dataset(&bytes));
    }

    #[test]
    fn mutations_are_reproducible_by_seed_and_change_the_input() {
        let input: Vec<u8> = (0..100).collect();
        let (mut a, mut b) = (Mutator::new(3), Mutator::new(3));
        let mut changed = 0;
        for _ in 0..100 {
            let x = a.mutate(&input, &input);
            assert_eq!(x, b.mutate(&input, &input));
            changed += usize::from(x != input);
        }
        assert!(changed > 90, "{changed} of 100 mutations changed the input");
    }
}
