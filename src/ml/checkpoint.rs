//! Model files: a trained classifier or autoencoder as bytes, for the pretrained models the
//! page ships, the browser's storage, and download and upload, checked thoroughly on load.
//!
//! Layout (little-endian), then the values of every tensor in the module's visiting order:
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `DIMPLEMD` |
//! | 4 | format version (1) |
//! | 1 | role: 1 classifier, 2 autoencoder |
//! | 1 | architecture (the index of its kind) |
//! | 4 | latent dimension k (0 for a classifier) |
//! | 4 × 3 | image height, width, classes |
//! | 1 | precision: 0 f32, 1 f16, 2 8-bit |
//! | 2 + len | dataset name (UTF-8) |
//! | 2 + len | note (UTF-8: how it was trained) |
//! | 4 | tensor count, then per tensor: 1 (rank) + 4 × rank (dims) |
//! | … | values; at 8 bits, each tensor's as its least value and its step (f32), then a byte each |
//! | 8 | FNV-1a 64 checksum of everything before it |
//!
//! Loading rebuilds the architecture the header names and checks every tensor's shape against
//! it, so a foreign, truncated or corrupt file is refused with a message and never becomes a
//! model.

use super::autoencoder::{Autoencoder, AutoencoderKind};
use super::dataset::fnv1a64;
use super::model::{Classifier, ClassifierKind, ImageShape};
use super::read_f32;
use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use std::fmt;

const MAGIC: &[u8; 8] = b"DIMPLEMD";
const VERSION: u32 = 1;
/// Bounds on what a header may claim, so a hostile file cannot ask for huge allocations.
const MAX_TENSORS: usize = 256;
const MAX_RANK: usize = 6;
const MAX_VALUES: usize = 64 << 20;
const MAX_SIDE: usize = 4096;
const MAX_CLASSES: usize = 1000;

/// Which model a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    Classifier(ClassifierKind),
    Autoencoder {
        kind: AutoencoderKind,
        latent: usize,
    },
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Classifier(kind) => write!(f, "classifier ({})", kind.label()),
            Self::Autoencoder { kind, latent } => {
                write!(f, "autoencoder ({kind:?}, k = {latent})")
            }
        }
    }
}

/// How the values are stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    #[default]
    F32,
    /// Half precision: half the size; rounding changes weights by at most 2^-11 relatively.
    F16,
    /// A quarter of the size: each tensor's values as 256 even steps from its least to its
    /// greatest; rounding moves a weight by at most half a step, 1/510 of the tensor's range.
    Q8,
}

impl Precision {
    fn code(self) -> u8 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Q8 => 2,
        }
    }

    /// Bytes the values of `count` tensors holding `total` values take.
    fn value_bytes(self, count: usize, total: usize) -> usize {
        match self {
            Self::F32 => 4 * total,
            Self::F16 => 2 * total,
            Self::Q8 => 8 * count + total,
        }
    }
}

/// The least value of `values` and the step of 255 that reach its greatest (0 where all are
/// equal). A value that is not finite makes the least value NaN, so that reading the file
/// refuses it as the other precisions' files are refused.
fn q8_grid(values: &[f32]) -> (f32, f32) {
    if values.iter().any(|v| !v.is_finite()) {
        return (f32::NAN, 0.0);
    }
    let (lo, hi) = values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    match values {
        [] => (0.0, 0.0),
        _ if hi <= lo => (lo, 0.0),
        // Each end divided first: the difference of two huge weights could overflow.
        _ => (lo, hi / 255.0 - lo / 255.0),
    }
}

/// One parameter tensor: its shape and its values, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// A model's architecture, what it was trained on, and its parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelFile {
    pub kind: ModelKind,
    pub shape: ImageShape,
    /// Name of the dataset it was trained on (for example "mnist").
    pub dataset: String,
    /// Free text: how it was trained, its accuracy.
    pub note: String,
    pub tensors: Vec<StoredTensor>,
}

/// Why bytes are not a usable model file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelFileError {
    /// Not a Dimple model file at all (another file was chosen).
    Foreign,
    /// Written by a newer Dimple.
    FutureVersion(u32),
    /// Ends early (an interrupted download or copy).
    Truncated,
    /// The bytes changed after writing.
    Checksum,
    /// Well-formed but impossible, or not the architecture its header names.
    Invalid(String),
}

impl fmt::Display for ModelFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Foreign => write!(f, "this is not a Dimple model file"),
            Self::FutureVersion(v) => write!(
                f,
                "this model file has format version {v}, newer than this page understands ({VERSION})"
            ),
            Self::Truncated => write!(f, "this model file is incomplete (it ends early)"),
            Self::Checksum => write!(
                f,
                "this model file is corrupt (its checksum does not match)"
            ),
            Self::Invalid(why) => write!(f, "this model file is invalid: {why}"),
        }
    }
}

impl std::error::Error for ModelFileError {}

impl ModelFile {
    /// The file's bytes, values at `precision`.
    pub fn encode(&self, precision: Precision) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        let (role, arch, latent) = match self.kind {
            ModelKind::Classifier(kind) => (1u8, kind_index(&ClassifierKind::ALL, kind), 0),
            ModelKind::Autoencoder { kind, latent } => {
                (2u8, kind_index(&AutoencoderKind::ALL, kind), latent)
            }
        };
        out.extend([role, arch]);
        for v in [
            latent,
            self.shape.height,
            self.shape.width,
            self.shape.classes,
        ] {
            out.extend_from_slice(&(v as u32).to_le_bytes());
        }
        out.push(precision.code());
        for text in [&self.dataset, &self.note] {
            let bytes = &text.as_bytes()[..text.len().min(u16::MAX as usize)];
            out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
            out.extend_from_slice(bytes);
        }
        out.extend_from_slice(&(self.tensors.len() as u32).to_le_bytes());
        for t in &self.tensors {
            out.push(t.shape.len() as u8);
            for &d in &t.shape {
                out.extend_from_slice(&(d as u32).to_le_bytes());
            }
        }
        for t in &self.tensors {
            match precision {
                Precision::F32 => t.values.iter().for_each(|v| out.extend(v.to_le_bytes())),
                Precision::F16 => t
                    .values
                    .iter()
                    .for_each(|&v| out.extend(half::f16::from_f32(v).to_le_bytes())),
                Precision::Q8 => {
                    let (lo, step) = q8_grid(&t.values);
                    out.extend(lo.to_le_bytes());
                    out.extend(step.to_le_bytes());
                    // In f64: the distance between two huge weights overflows f32.
                    let (lo64, step64) = (f64::from(lo), f64::from(step));
                    out.extend(t.values.iter().map(|&v| {
                        if step > 0.0 {
                            ((f64::from(v) - lo64) / step64).round().clamp(0.0, 255.0) as u8
                        } else {
                            0
                        }
                    }));
                }
            }
        }
        let sum = fnv1a64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Reads a file written by [`ModelFile::encode`], checking everything it can without
    /// building the model.
    pub fn decode(bytes: &[u8]) -> Result<Self, ModelFileError> {
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(ModelFileError::Foreign);
        }
        let mut r = Reader { bytes, at: 8 };
        let version = r.u32()?;
        if version != VERSION {
            return Err(if version > VERSION {
                ModelFileError::FutureVersion(version)
            } else {
                ModelFileError::Invalid(format!("unknown format version {version}"))
            });
        }
        // The checksum first: any corruption below is reported as corruption.
        if bytes.len() < 8 + 4 + 8 {
            return Err(ModelFileError::Truncated);
        }
        let (body, tail) = bytes.split_at(bytes.len() - 8);
        let stored = u64::from_le_bytes(tail.try_into().expect("8 bytes"));
        let header_ok = r.peek_header_len().is_some_and(|n| n <= body.len());
        if fnv1a64(body) != stored {
            return Err(if header_ok {
                ModelFileError::Checksum
            } else {
                ModelFileError::Truncated
            });
        }
        let r = &mut Reader {
            bytes: body,
            at: 12,
        };
        let (role, arch) = (r.u8()?, r.u8()?);
        let latent = r.u32()? as usize;
        let (height, width, classes) = (r.u32()? as usize, r.u32()? as usize, r.u32()? as usize);
        if !(1..=MAX_SIDE).contains(&height)
            || !(1..=MAX_SIDE).contains(&width)
            || !(2..=MAX_CLASSES).contains(&classes)
        {
            return Err(invalid(format!(
                "images of {height}×{width} with {classes} classes"
            )));
        }
        let kind = match role {
            1 => ModelKind::Classifier(
                *ClassifierKind::ALL
                    .get(usize::from(arch))
                    .ok_or_else(|| invalid(format!("unknown classifier architecture {arch}")))?,
            ),
            2 => ModelKind::Autoencoder {
                kind: *AutoencoderKind::ALL
                    .get(usize::from(arch))
                    .ok_or_else(|| invalid(format!("unknown autoencoder architecture {arch}")))?,
                latent,
            },
            other => return Err(invalid(format!("unknown model role {other}"))),
        };
        let precision = match r.u8()? {
            0 => Precision::F32,
            1 => Precision::F16,
            2 => Precision::Q8,
            other => return Err(invalid(format!("unknown precision {other}"))),
        };
        let dataset = r.text()?;
        let note = r.text()?;
        let count = r.u32()? as usize;
        if count > MAX_TENSORS {
            return Err(invalid(format!("{count} tensors")));
        }
        let mut shapes = Vec::with_capacity(count);
        let mut total = 0usize;
        for _ in 0..count {
            let rank = usize::from(r.u8()?);
            if rank == 0 || rank > MAX_RANK {
                return Err(invalid(format!("a tensor of rank {rank}")));
            }
            let shape = (0..rank)
                .map(|_| r.u32().map(|d| d as usize))
                .collect::<Result<Vec<_>, _>>()?;
            let size = shape
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .filter(|&n| n <= MAX_VALUES)
                .ok_or_else(|| invalid(format!("a tensor of shape {shape:?}")))?;
            total = total.saturating_add(size);
            shapes.push((shape, size));
        }
        if total > MAX_VALUES || r.remaining() != precision.value_bytes(count, total) {
            return Err(invalid(format!(
                "{} bytes of values for {total} values",
                r.remaining()
            )));
        }
        let mut tensors = Vec::with_capacity(count);
        for (shape, size) in shapes {
            let values: Vec<f32> = match precision {
                Precision::F32 => r
                    .take(4 * size)?
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                    .collect(),
                Precision::F16 => r
                    .take(2 * size)?
                    .chunks_exact(2)
                    .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                    .collect(),
                Precision::Q8 => {
                    let (lo, step) = (f32::from_bits(r.u32()?), f32::from_bits(r.u32()?));
                    if step.is_nan() || step < 0.0 {
                        return Err(invalid(format!("a tensor with a step of {step}")));
                    }
                    r.take(size)?
                        .iter()
                        .map(|&q| (f64::from(lo) + f64::from(step) * f64::from(q)) as f32)
                        .collect()
                }
            };
            if values.iter().any(|v| !v.is_finite()) {
                return Err(invalid("a weight that is not a finite number".into()));
            }
            tensors.push(StoredTensor { shape, values });
        }
        Ok(Self {
            kind,
            shape: ImageShape {
                height,
                width,
                classes,
            },
            dataset,
            note,
            tensors,
        })
    }

    /// The classifier this file holds, on `device`.
    pub fn to_classifier(&self, device: &Device) -> Result<Classifier, ModelFileError> {
        let ModelKind::Classifier(kind) = self.kind else {
            return Err(invalid(format!(
                "it holds an {}, not a classifier",
                self.kind
            )));
        };
        load_params(
            Classifier::new(kind, self.shape, device),
            &self.tensors,
            device,
        )
    }

    /// The autoencoder this file holds, on `device`.
    pub fn to_autoencoder(&self, device: &Device) -> Result<Autoencoder, ModelFileError> {
        let ModelKind::Autoencoder { kind, latent } = self.kind else {
            return Err(invalid(format!(
                "it holds a {}, not an autoencoder",
                self.kind
            )));
        };
        if !(1..=1024).contains(&latent) {
            return Err(invalid(format!("latent dimension {latent}")));
        }
        let model = Autoencoder::new(kind, latent, self.shape, device).map_err(invalid)?;
        load_params(model, &self.tensors, device)
    }

    /// A file holding `model`, trained on `dataset` (values read back from the device).
    pub async fn of_classifier(
        model: &Classifier,
        shape: ImageShape,
        dataset: &str,
        note: &str,
    ) -> Result<Self, String> {
        Ok(Self {
            kind: ModelKind::Classifier(model.kind()),
            shape,
            dataset: dataset.into(),
            note: note.into(),
            tensors: read_params(model).await?,
        })
    }

    /// A file holding `model`, trained on `dataset`.
    pub async fn of_autoencoder(
        model: &Autoencoder,
        shape: ImageShape,
        dataset: &str,
        note: &str,
    ) -> Result<Self, String> {
        Ok(Self {
            kind: ModelKind::Autoencoder {
                kind: model.kind(),
                latent: model.latent(),
            },
            shape,
            dataset: dataset.into(),
            note: note.into(),
            tensors: read_params(model).await?,
        })
    }

    /// Number of parameters.
    pub fn parameters(&self) -> usize {
        self.tensors.iter().map(|t| t.values.len()).sum()
    }
}

fn invalid(why: String) -> ModelFileError {
    ModelFileError::Invalid(why)
}

fn kind_index<T: PartialEq>(all: &[T], kind: T) -> u8 {
    all.iter().position(|k| *k == kind).unwrap_or(0) as u8
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ModelFileError> {
        let end = self.at.checked_add(n).ok_or(ModelFileError::Truncated)?;
        let out = self
            .bytes
            .get(self.at..end)
            .ok_or(ModelFileError::Truncated)?;
        self.at = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, ModelFileError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, ModelFileError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn text(&mut self) -> Result<String, ModelFileError> {
        let len = u16::from_le_bytes(self.take(2)?.try_into().expect("2"));
        String::from_utf8(self.take(usize::from(len))?.to_vec())
            .map_err(|_| invalid("a name that is not UTF-8".into()))
    }
    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.at)
    }
    /// Length of the fixed header and the two texts, if the bytes hold them (a cut-off file
    /// fails this).
    fn peek_header_len(&self) -> Option<usize> {
        let mut probe = Reader {
            bytes: self.bytes,
            at: 12 + 2 + 16 + 1,
        };
        probe.text().ok()?;
        probe.text().ok()?;
        Some(probe.at)
    }
}

/// Every float parameter of `module`, in visiting order, read back from the device.
async fn read_params<M: Module>(module: &M) -> Result<Vec<StoredTensor>, String> {
    struct Collect(Vec<(Vec<usize>, Tensor<1>)>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let value = param.val();
            let shape = value.dims().to_vec();
            let count = shape.iter().product::<usize>();
            self.0.push((shape, value.reshape([count])));
        }
    }
    let mut collect = Collect(Vec::new());
    module.visit(&mut collect);
    let mut out = Vec::with_capacity(collect.0.len());
    for (shape, tensor) in collect.0 {
        out.push(StoredTensor {
            shape,
            values: read_f32(tensor).await?,
        });
    }
    Ok(out)
}

/// `module` with its float parameters replaced, in visiting order, by `tensors`, which must
/// match them in number and shape.
fn load_params<M: Module>(
    module: M,
    tensors: &[StoredTensor],
    device: &Device,
) -> Result<M, ModelFileError> {
    struct Replace<'a> {
        tensors: &'a [StoredTensor],
        next: usize,
        device: Device,
        error: Option<String>,
    }
    impl ModuleMapper for Replace<'_> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let index = self.next;
            self.next += 1;
            let expected = param.lazy_shape().dims::<D>().to_vec();
            match self.tensors.get(index) {
                Some(t)
                    if t.shape == expected
                        && t.values.len() == expected.iter().product::<usize>() =>
                {
                    let shape: [usize; D] = expected.try_into().expect("rank D");
                    let value = Tensor::<D>::from_data(
                        TensorData::new(t.values.clone(), shape),
                        &self.device,
                    );
                    Param::initialized(param.id, value)
                }
                Some(t) => {
                    self.error.get_or_insert(format!(
                        "parameter {index} has shape {:?}, the architecture needs {expected:?}",
                        t.shape
                    ));
                    param
                }
                None => {
                    self.error
                        .get_or_insert(format!("it has too few parameters ({index})"));
                    param
                }
            }
        }
    }
    let mut replace = Replace {
        tensors,
        next: 0,
        device: device.clone(),
        error: None,
    };
    let module = module.map(&mut replace);
    if let Some(e) = replace.error {
        return Err(invalid(e));
    }
    if replace.next != tensors.len() {
        return Err(invalid(format!(
            "it has {} parameters, the architecture {}",
            tensors.len(),
            replace.next
        )));
    }
    Ok(module)
}
