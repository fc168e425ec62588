//! Image datasets in Dimple's own compact file format, and their conversion from IDX.
//!
//! One file holds a whole labelled dataset: u8 pixels and u8 labels for a train and a test
//! split, behind a small header (format version, image shape, counts, class names and a
//! checksum). The format knows nothing about digits, so MNIST and Fashion-MNIST share it.
//! This module decodes and encodes files and builds class-balanced subsets; turning pixels
//! into tensors is the job of [`crate::ml::batch`].
//!
//! Layout (all integers little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `DIMPLEDS` |
//! | 4 | format version (currently 1) |
//! | 4, 4, 4 | height, width, channels |
//! | 4 | number of classes |
//! | 4, 4 | train count, test count |
//! | 4 | length of the names block |
//! | 8 | FNV-1a 64 checksum of everything after the header |
//! | 16 | dataset name, ASCII, zero-padded |
//! | names | the dataset's class names, UTF-8, one per line |
//! | train | labels (train count bytes), then pixels (train count × height × width × channels) |
//! | test | labels, then pixels, likewise |
//!
//! The files Dimple ships are that layout compressed with zlib (RFC 1950; [`pack`]), about a
//! fifth of the size on any host: browsers unpack them as they arrive
//! (`DecompressionStream("deflate")`), the native program with [`unpack`].

use std::borrow::Cow;
use std::fmt;

/// The eight bytes every Dimple dataset file starts with.
pub const MAGIC: &[u8; 8] = b"DIMPLEDS";
/// The format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Size of the fixed header in bytes.
pub const HEADER_LEN: usize = 8 + 4 * 8 + 8 + 16;

/// One split (train or test) of a dataset: `labels[i]` belongs to the `i`-th image, whose
/// pixels are `pixels[i * image_len .. (i + 1) * image_len]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pub labels: Vec<u8>,
    pub pixels: Vec<u8>,
}

impl Split {
    /// Number of images in the split.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the split has no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// A labelled image dataset with a train and a test split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataset {
    pub name: String,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pub class_names: Vec<String>,
    pub train: Split,
    pub test: Split,
}

/// Why a dataset file could not be read. Each message says what is wrong with the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatasetError {
    /// The file does not start with the Dimple magic bytes.
    NotADatasetFile,
    /// The file was written by a newer (or unknown) version of the format.
    UnsupportedVersion(u32),
    /// The file is shorter than its header says it should be.
    Truncated { expected: usize, actual: usize },
    /// The file is longer than its header says it should be.
    TrailingBytes { expected: usize, actual: usize },
    /// The checksum stored in the header does not match the contents.
    ChecksumMismatch { stored: u64, computed: u64 },
    /// The header or the contents contradict each other.
    Inconsistent(String),
    /// An IDX source file could not be parsed.
    Idx(String),
    /// A packed file does not unpack: it was cut off or damaged.
    Unpack(String),
}

impl fmt::Display for DatasetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotADatasetFile => write!(
                f,
                "not a Dimple dataset file (it does not start with \"DIMPLEDS\"); \
                 the file may have been replaced, for example by an HTML error page"
            ),
            Self::UnsupportedVersion(v) => write!(
                f,
                "dataset file format version {v} is not supported (this page reads version {FORMAT_VERSION})"
            ),
            Self::Truncated { expected, actual } => write!(
                f,
                "dataset file is truncated: {actual} bytes where {expected} were expected; \
                 the download may have been cut off"
            ),
            Self::TrailingBytes { expected, actual } => write!(
                f,
                "dataset file has {actual} bytes where {expected} were expected"
            ),
            Self::ChecksumMismatch { stored, computed } => write!(
                f,
                "dataset file is corrupt: checksum {computed:016x} does not match the stored {stored:016x}"
            ),
            Self::Inconsistent(why) => write!(f, "dataset file is inconsistent: {why}"),
            Self::Idx(why) => write!(f, "IDX file: {why}"),
            Self::Unpack(why) => write!(
                f,
                "dataset file does not unpack ({why}); the download may have been cut off \
                 or the file damaged"
            ),
        }
    }
}

impl std::error::Error for DatasetError {}

/// FNV-1a, 64-bit: a small checksum that catches truncation and random corruption.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The longest dataset file Dimple reads (MNIST's full set is 55 MB): a header that claims
/// more is refused, and [`unpack`] stops there.
pub const MAX_FILE_LEN: usize = 1 << 28;

/// Compresses an encoded dataset file as Dimple ships it: zlib at level 9 (miniz_oxide, pinned
/// in Cargo.toml, so that converting again gives the committed bytes).
pub fn pack(encoded: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(encoded, 9)
}

/// Undoes [`pack`] for the native program. A file that is not packed (it starts with the magic
/// bytes) comes back as it is, so that either kind reads; the page reads only packed files,
/// which the browser unpacks.
pub fn unpack(bytes: &[u8]) -> Result<Cow<'_, [u8]>, DatasetError> {
    unpack_at_most(bytes, MAX_FILE_LEN)
}

/// [`unpack`], stopping at `limit` bytes (a fuzzer keeps its inputs small).
pub fn unpack_at_most(bytes: &[u8], limit: usize) -> Result<Cow<'_, [u8]>, DatasetError> {
    if bytes.starts_with(MAGIC) {
        return Ok(Cow::Borrowed(bytes));
    }
    miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(bytes, limit)
        .map(Cow::Owned)
        .map_err(|e| {
            use miniz_oxide::inflate::TINFLStatus;
            if bytes.len() < 2 || !is_zlib_header(bytes[0], bytes[1]) {
                return DatasetError::NotADatasetFile;
            }
            DatasetError::Unpack(match e.status {
                TINFLStatus::HasMoreOutput => format!("it unpacks to more than {limit} bytes"),
                TINFLStatus::FailedCannotMakeProgress | TINFLStatus::NeedsMoreInput => {
                    "it ends too soon".into()
                }
                TINFLStatus::Adler32Mismatch => "its zlib checksum does not match".into(),
                other => format!("its compressed data is invalid: {other:?}"),
            })
        })
}

/// Whether two bytes open a zlib stream (RFC 1950: deflate, a window of at most 32 KiB, and
/// a header check that makes them a multiple of 31).
fn is_zlib_header(cmf: u8, flg: u8) -> bool {
    cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0
}

/// The fixed header of a dataset file, read and checked for consistency.
struct Header {
    name: String,
    height: usize,
    width: usize,
    channels: usize,
    classes: usize,
    train_count: usize,
    test_count: usize,
    names_len: usize,
    checksum: u64,
    /// Bytes per image.
    image_len: usize,
    /// Length of the whole file the header describes.
    file_len: usize,
}

impl Header {
    /// Reads the header at the start of `bytes` (which may hold more of the file, or all of it).
    fn read(bytes: &[u8]) -> Result<Self, DatasetError> {
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(DatasetError::NotADatasetFile);
        }
        if bytes.len() < HEADER_LEN {
            return Err(DatasetError::Truncated {
                expected: HEADER_LEN,
                actual: bytes.len(),
            });
        }
        let word = |i: usize| {
            let at = MAGIC.len() + 4 * i;
            u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize
        };
        let version = word(0) as u32;
        if version != FORMAT_VERSION {
            return Err(DatasetError::UnsupportedVersion(version));
        }
        let (height, width, channels, classes) = (word(1), word(2), word(3), word(4));
        let (train_count, test_count, names_len) = (word(5), word(6), word(7));
        let checksum = u64::from_le_bytes(bytes[40..48].try_into().expect("8 bytes"));
        let name_field = &bytes[48..64];
        let name_end = name_field.iter().position(|&b| b == 0).unwrap_or(16);
        let name = std::str::from_utf8(&name_field[..name_end])
            .map_err(|_| DatasetError::Inconsistent("dataset name is not UTF-8".into()))?
            .to_string();

        let image_len = height
            .checked_mul(width)
            .and_then(|v| v.checked_mul(channels))
            .ok_or_else(|| DatasetError::Inconsistent("image size overflows".into()))?;
        let split_len = |count: usize| image_len.checked_add(1).and_then(|l| count.checked_mul(l));
        let file_len = split_len(train_count)
            .zip(split_len(test_count))
            .and_then(|(a, b)| a.checked_add(b))
            .and_then(|v| v.checked_add(names_len))
            .and_then(|v| v.checked_add(HEADER_LEN))
            .ok_or_else(|| DatasetError::Inconsistent("counts overflow".into()))?;
        if file_len > MAX_FILE_LEN {
            return Err(DatasetError::Inconsistent(format!(
                "the header claims {file_len} bytes, more than the {MAX_FILE_LEN} a dataset \
                 file may have"
            )));
        }
        Ok(Self {
            name,
            height,
            width,
            channels,
            classes,
            train_count,
            test_count,
            names_len,
            checksum,
            image_len,
            file_len,
        })
    }
}

/// The length of the whole dataset file that `start` begins, read from its header: how much a
/// download still has to come. `start` may be any prefix of the file at least
/// [`HEADER_LEN`] bytes long; a shorter one is `Truncated`, a foreign one `NotADatasetFile`.
pub fn file_len(start: &[u8]) -> Result<usize, DatasetError> {
    Header::read(start).map(|h| h.file_len)
}

impl Dataset {
    /// Number of values in one image (height × width × channels).
    pub fn image_len(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.class_names.len()
    }

    /// Pixels of image `index` of `split`.
    pub fn image<'a>(&self, split: &'a Split, index: usize) -> &'a [u8] {
        let n = self.image_len();
        &split.pixels[index * n..(index + 1) * n]
    }

    /// Checks that shapes, counts and labels agree.
    pub fn validate(&self) -> Result<(), DatasetError> {
        let n = self.image_len();
        if n == 0 {
            return Err(DatasetError::Inconsistent("image size is zero".into()));
        }
        if self.class_names.is_empty() || self.class_names.len() > 256 {
            return Err(DatasetError::Inconsistent(format!(
                "{} classes (expected 1 to 256)",
                self.class_names.len()
            )));
        }
        for (which, split) in [("train", &self.train), ("test", &self.test)] {
            if split.pixels.len() != split.labels.len() * n {
                return Err(DatasetError::Inconsistent(format!(
                    "{which} split has {} labels but {} pixel bytes",
                    split.labels.len(),
                    split.pixels.len()
                )));
            }
            if let Some(&bad) = split
                .labels
                .iter()
                .find(|&&l| usize::from(l) >= self.classes())
            {
                return Err(DatasetError::Inconsistent(format!(
                    "{which} split has label {bad} but only {} classes",
                    self.classes()
                )));
            }
        }
        if self.name.len() > 16 || !self.name.is_ascii() {
            return Err(DatasetError::Inconsistent(format!(
                "dataset name {:?} is not at most 16 ASCII bytes",
                self.name
            )));
        }
        Ok(())
    }

    /// Encodes the dataset in the Dimple file format.
    pub fn encode(&self) -> Result<Vec<u8>, DatasetError> {
        self.validate()?;
        let names = self.class_names.join("\n").into_bytes();
        let mut body = Vec::with_capacity(
            names.len()
                + self.train.labels.len()
                + self.train.pixels.len()
                + self.test.labels.len()
                + self.test.pixels.len(),
        );
        body.extend_from_slice(&names);
        for split in [&self.train, &self.test] {
            body.extend_from_slice(&split.labels);
            body.extend_from_slice(&split.pixels);
        }
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        out.extend_from_slice(MAGIC);
        for v in [
            FORMAT_VERSION,
            self.height as u32,
            self.width as u32,
            self.channels as u32,
            self.classes() as u32,
            self.train.len() as u32,
            self.test.len() as u32,
            names.len() as u32,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&fnv1a64(&body).to_le_bytes());
        let mut name = [0u8; 16];
        name[..self.name.len()].copy_from_slice(self.name.as_bytes());
        out.extend_from_slice(&name);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Encodes the dataset as Dimple ships it ([`pack`]ed).
    pub fn encode_packed(&self) -> Result<Vec<u8>, DatasetError> {
        self.encode().map(|bytes| pack(&bytes))
    }

    /// Decodes a file as Dimple ships it, or one not packed.
    pub fn decode_packed(bytes: &[u8]) -> Result<Self, DatasetError> {
        Self::decode(&unpack(bytes)?)
    }

    /// Decodes a file in the Dimple format, checking its header, its size and its checksum.
    pub fn decode(bytes: &[u8]) -> Result<Self, DatasetError> {
        let header = Header::read(bytes)?;
        let expected = header.file_len;
        if bytes.len() < expected {
            return Err(DatasetError::Truncated {
                expected,
                actual: bytes.len(),
            });
        }
        if bytes.len() > expected {
            return Err(DatasetError::TrailingBytes {
                expected,
                actual: bytes.len(),
            });
        }
        let body = &bytes[HEADER_LEN..];
        let computed = fnv1a64(body);
        if computed != header.checksum {
            return Err(DatasetError::ChecksumMismatch {
                stored: header.checksum,
                computed,
            });
        }
        let names = std::str::from_utf8(&body[..header.names_len])
            .map_err(|_| DatasetError::Inconsistent("class names are not UTF-8".into()))?;
        let class_names: Vec<String> = names.split('\n').map(str::to_string).collect();
        if class_names.len() != header.classes {
            return Err(DatasetError::Inconsistent(format!(
                "header says {} classes but {} class names follow",
                header.classes,
                class_names.len()
            )));
        }
        let mut rest = &body[header.names_len..];
        let mut take_split = |count: usize| {
            let (labels, tail) = rest.split_at(count);
            let (pixels, tail) = tail.split_at(count * header.image_len);
            rest = tail;
            Split {
                labels: labels.to_vec(),
                pixels: pixels.to_vec(),
            }
        };
        let train = take_split(header.train_count);
        let test = take_split(header.test_count);
        let dataset = Dataset {
            name: header.name,
            height: header.height,
            width: header.width,
            channels: header.channels,
            class_names,
            train,
            test,
        };
        dataset.validate()?;
        Ok(dataset)
    }

    /// A class-balanced subset: the first `train_per_class` train images and the first
    /// `test_per_class` test images of every class, in their original order.
    pub fn balanced_subset(
        &self,
        train_per_class: usize,
        test_per_class: usize,
    ) -> Result<Self, DatasetError> {
        let take = |split: &Split, per_class: usize| -> Result<Split, DatasetError> {
            let n = self.image_len();
            let mut seen = vec![0usize; self.classes()];
            let mut out = Split {
                labels: Vec::new(),
                pixels: Vec::new(),
            };
            for (i, &label) in split.labels.iter().enumerate() {
                let count = &mut seen[usize::from(label)];
                if *count < per_class {
                    *count += 1;
                    out.labels.push(label);
                    out.pixels
                        .extend_from_slice(&split.pixels[i * n..(i + 1) * n]);
                }
            }
            if let Some(short) = seen.iter().position(|&c| c < per_class) {
                return Err(DatasetError::Inconsistent(format!(
                    "class {short} has only {} images, {per_class} wanted",
                    seen[short]
                )));
            }
            Ok(out)
        };
        Ok(Self {
            train: take(&self.train, train_per_class)?,
            test: take(&self.test, test_per_class)?,
            ..self.clone()
        })
    }
}

/// Parses an IDX file (the format MNIST ships in) of unsigned bytes: returns its dimensions
/// and its data. `expected_dims` is 1 for labels, 3 for images.
pub fn parse_idx(bytes: &[u8], expected_dims: usize) -> Result<(Vec<usize>, &[u8]), DatasetError> {
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(DatasetError::Idx("missing the IDX magic number".into()));
    }
    if bytes[2] != 0x08 {
        return Err(DatasetError::Idx(format!(
            "element type 0x{:02x} is not unsigned byte",
            bytes[2]
        )));
    }
    let dims = usize::from(bytes[3]);
    if dims != expected_dims {
        return Err(DatasetError::Idx(format!(
            "{dims} dimensions, expected {expected_dims}"
        )));
    }
    let header = 4 + 4 * dims;
    if bytes.len() < header {
        return Err(DatasetError::Idx("truncated header".into()));
    }
    let shape: Vec<usize> = (0..dims)
        .map(|i| {
            u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize
        })
        .collect();
    let len: usize = shape.iter().product();
    let data = &bytes[header..];
    if data.len() != len {
        return Err(DatasetError::Idx(format!(
            "{} data bytes where the shape needs {len}",
            data.len()
        )));
    }
    Ok((shape, data))
}

/// Builds a dataset from the four IDX files of an MNIST-style distribution.
pub fn from_idx(
    name: &str,
    class_names: Vec<String>,
    train_images: &[u8],
    train_labels: &[u8],
    test_images: &[u8],
    test_labels: &[u8],
) -> Result<Dataset, DatasetError> {
    let split = |images: &[u8], labels: &[u8]| -> Result<(Split, usize, usize), DatasetError> {
        let (ishape, pixels) = parse_idx(images, 3)?;
        let (lshape, labels) = parse_idx(labels, 1)?;
        if ishape[0] != lshape[0] {
            return Err(DatasetError::Idx(format!(
                "{} images but {} labels",
                ishape[0], lshape[0]
            )));
        }
        Ok((
            Split {
                labels: labels.to_vec(),
                pixels: pixels.to_vec(),
            },
            ishape[1],
            ishape[2],
        ))
    };
    let (train, h, w) = split(train_images, train_labels)?;
    let (test, th, tw) = split(test_images, test_labels)?;
    if (h, w) != (th, tw) {
        return Err(DatasetError::Idx(
            "train and test images differ in size".into(),
        ));
    }
    let dataset = Dataset {
        name: name.into(),
        height: h,
        width: w,
        channels: 1,
        class_names,
        train,
        test,
    };
    dataset.validate()?;
    Ok(dataset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, 0x08, dims.len() as u8];
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out.extend_from_slice(data);
        out
    }

    fn tiny() -> Dataset {
        let train_labels = [0u8, 1, 2, 0, 1, 2, 2];
        let test_labels = [2u8, 1, 0];
        let pixels = |n: usize, salt: u8| {
            (0..n * 4)
                .map(|i| (i as u8).wrapping_mul(7) ^ salt)
                .collect::<Vec<_>>()
        };
        from_idx(
            "tiny",
            vec!["a".into(), "b".into(), "c".into()],
            &idx(&[7, 2, 2], &pixels(7, 1)),
            &idx(&[7], &train_labels),
            &idx(&[3, 2, 2], &pixels(3, 9)),
            &idx(&[3], &test_labels),
        )
        .unwrap()
    }

    #[test]
    fn encode_then_decode_is_identity_and_deterministic() {
        let d = tiny();
        let bytes = d.encode().unwrap();
        assert_eq!(bytes, d.encode().unwrap());
        assert_eq!(Dataset::decode(&bytes).unwrap(), d);
        assert_eq!(bytes.len(), HEADER_LEN + "a\nb\nc".len() + 7 * 5 + 3 * 5);
    }

    #[test]
    fn every_truncation_is_reported_as_such() {
        let bytes = tiny().encode().unwrap();
        for cut in MAGIC.len()..bytes.len() {
            match Dataset::decode(&bytes[..cut]) {
                Err(DatasetError::Truncated { expected, actual }) => {
                    assert_eq!(actual, cut);
                    assert!(expected > cut);
                }
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn every_prefix_with_a_whole_header_gives_the_file_length() {
        let bytes = tiny().encode().unwrap();
        for cut in 0..=bytes.len() {
            match (file_len(&bytes[..cut]), cut) {
                (Ok(len), cut) if cut >= HEADER_LEN => assert_eq!(len, bytes.len()),
                (Err(DatasetError::Truncated { expected, actual }), cut)
                    if cut >= MAGIC.len() && cut < HEADER_LEN =>
                {
                    assert_eq!((expected, actual), (HEADER_LEN, cut));
                }
                (Err(DatasetError::NotADatasetFile), cut) if cut < MAGIC.len() => {}
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
        assert_eq!(
            file_len(b"<!DOCTYPE html><html><head><title>404</title></head><body>gone</body>"),
            Err(DatasetError::NotADatasetFile)
        );
    }

    #[test]
    fn a_packed_file_unpacks_to_the_encoded_one_and_is_smaller() {
        let d = tiny();
        let plain = d.encode().unwrap();
        let packed = d.encode_packed().unwrap();
        assert!(is_zlib_header(packed[0], packed[1]));
        assert_eq!(unpack(&packed).unwrap().as_ref(), plain.as_slice());
        assert_eq!(Dataset::decode_packed(&packed).unwrap(), d);
        assert_eq!(
            Dataset::decode_packed(&plain).unwrap(),
            d,
            "a plain file reads too"
        );
        let zeros = Dataset {
            train: Split {
                labels: vec![0; 500],
                pixels: vec![0; 2000],
            },
            ..d
        };
        let (plain, packed) = (zeros.encode().unwrap(), zeros.encode_packed().unwrap());
        assert!(
            packed.len() * 10 < plain.len(),
            "{} of {}",
            packed.len(),
            plain.len()
        );
    }

    #[test]
    fn every_cut_packed_file_is_refused_and_a_flipped_one_never_reads_wrong() {
        let d = tiny();
        let packed = d.encode_packed().unwrap();
        for cut in 0..packed.len() {
            match Dataset::decode_packed(&packed[..cut]) {
                Err(DatasetError::Unpack(why)) => assert!(why.contains("too soon"), "{why}"),
                Err(DatasetError::NotADatasetFile) => assert!(cut < 2, "cut at {cut}"),
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
        let (mut flips, mut refused) = (0, 0);
        for at in 2..packed.len() {
            for bit in [0x01, 0x10, 0x80] {
                flips += 1;
                let mut bad = packed.clone();
                bad[at] ^= bit;
                // A bit that deflate never reads (padding, an unused code length) changes
                // nothing; any other is caught by zlib's checksum or the file's own.
                match Dataset::decode_packed(&bad) {
                    Ok(read) => assert_eq!(read, d, "byte {at} bit {bit:#x}"),
                    Err(_) => refused += 1,
                }
            }
        }
        assert!(refused * 10 >= flips * 9, "{refused} of {flips} refused");
    }

    #[test]
    fn foreign_bytes_are_not_a_dataset_and_a_bomb_stops_at_the_limit() {
        for foreign in [&b"<!DOCTYPE html><html>"[..], b"", b"x", b"PK\x03\x04zip"] {
            assert_eq!(
                Dataset::decode_packed(foreign),
                Err(DatasetError::NotADatasetFile),
                "{foreign:?}"
            );
        }
        let bomb = pack(&vec![0; 100_000]);
        assert!(matches!(
            unpack_at_most(&bomb, 4096),
            Err(DatasetError::Unpack(why)) if why.contains("more than 4096 bytes")
        ));
    }

    #[test]
    fn every_flipped_body_byte_fails_the_checksum() {
        let bytes = tiny().encode().unwrap();
        for at in HEADER_LEN..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0x10;
            assert!(
                matches!(
                    Dataset::decode(&bad),
                    Err(DatasetError::ChecksumMismatch { .. })
                ),
                "byte {at}"
            );
        }
    }

    #[test]
    fn foreign_and_future_files_are_named() {
        assert_eq!(
            Dataset::decode(b"<!DOCTYPE html><html>"),
            Err(DatasetError::NotADatasetFile)
        );
        assert_eq!(Dataset::decode(b""), Err(DatasetError::NotADatasetFile));
        let mut bytes = tiny().encode().unwrap();
        bytes[8] = 2;
        assert_eq!(
            Dataset::decode(&bytes),
            Err(DatasetError::UnsupportedVersion(2))
        );
        let message = DatasetError::Truncated {
            expected: 10,
            actual: 3,
        }
        .to_string();
        assert!(message.contains("truncated"), "{message}");
    }

    #[test]
    fn an_image_size_that_overflows_is_refused() {
        // 1,722,007,169 × 714,156,689 × 15 = 2^64 - 1 bytes per image: one more (its label)
        // overflowed, and one image was then cut from an empty body, a panic (found while
        // writing the fuzz targets; the file is in fuzz/corpus/dataset).
        let mut bytes = MAGIC.to_vec();
        for v in [1u32, 1_722_007_169, 714_156_689, 15, 1, 1, 0, 0] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        bytes.extend_from_slice(&fnv1a64(&[]).to_le_bytes());
        bytes.extend_from_slice(&[b'x'; 16]);
        assert!(matches!(
            Dataset::decode(&bytes),
            Err(DatasetError::Inconsistent(_))
        ));
    }

    #[test]
    fn a_header_that_claims_more_than_the_limit_is_refused() {
        // 2 × 2^27 images of one pixel and its label: 2^29 bytes, twice the limit, with no
        // overflow anywhere (on 32-bit wasm too).
        let mut bytes = MAGIC.to_vec();
        for v in [FORMAT_VERSION, 1, 1, 1, 1, 1 << 27, 0, 0] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        bytes.extend_from_slice(&fnv1a64(&[]).to_le_bytes());
        bytes.extend_from_slice(&[b'x'; 16]);
        for result in [file_len(&bytes), Dataset::decode(&bytes).map(|_| 0)] {
            assert!(
                matches!(&result, Err(DatasetError::Inconsistent(why)) if why.contains("more than")),
                "{result:?}"
            );
        }
    }

    #[test]
    fn balanced_subset_takes_the_first_of_each_class_in_order() {
        let d = tiny();
        let s = d.balanced_subset(2, 1).unwrap();
        assert_eq!(s.train.labels, vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(s.test.labels, vec![2, 1, 0]);
        assert_eq!(s.image(&s.train, 5), d.image(&d.train, 5));
        assert_eq!(s.image(&s.train, 2), d.image(&d.train, 2));
        assert!(
            d.balanced_subset(3, 1).is_err(),
            "class 0 has only two train images"
        );
    }

    #[test]
    fn idx_errors_are_reported() {
        assert!(parse_idx(&[1, 2, 3], 1).is_err());
        assert!(parse_idx(&idx(&[3], &[1, 2]), 1).is_err());
        assert!(parse_idx(&idx(&[2, 1, 1], &[1, 2]), 1).is_err());
        let bytes = idx(&[2, 1, 1], &[1, 2]);
        let (shape, data) = parse_idx(&bytes, 3).unwrap();
        assert_eq!((shape, data), (vec![2, 1, 1], &[1u8, 2][..]));
    }
}
