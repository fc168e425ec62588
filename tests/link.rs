//! The page's links: any text survives percent-encoding, every valid state survives the trip
//! through its canonical query, and every malformed query gives notices, keeps the defaults
//! and never panics.

use dimple::form::{Bounds, real, whole};
use dimple::link::{
    Field, LINF_EPS, Preset, Rule, Settings, decode_component, decode_query, encode_component,
    fields, parse,
};
use dimple::ml::rng::Rng;
use dimple::ml::toy::ToyModelConfig;

/// Random cases per property.
const CASES: usize = 400;

/// What random texts are mostly made of: the characters a query gives a meaning to, a few
/// unreserved ones, and non-ASCII ones of two, three and four bytes.
const ALPHABET: [char; 24] = [
    'a', 'Z', '0', '9', '-', '.', '_', '~', ' ', '%', '+', '&', '=', '?', '#', '/', '\0', '\n',
    'é', '∞', '€', '\u{FFFD}', '𝔸', '😀',
];

/// Random text of up to `max` characters: mostly from [`ALPHABET`], else any scalar value.
fn text(rng: &mut Rng, max: usize) -> String {
    (0..rng.below(max + 1))
        .map(|_| {
            if rng.below(4) > 0 {
                ALPHABET[rng.below(ALPHABET.len())]
            } else {
                char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('\u{FFFD}')
            }
        })
        .collect()
}

/// Whether `encoded` holds only unreserved characters and `%XX` escapes (upper-case hex).
fn only_unreserved_and_escapes(encoded: &str) -> bool {
    let mut bytes = encoded.bytes();
    while let Some(b) = bytes.next() {
        let ok = if b == b'%' {
            bytes
                .by_ref()
                .take(2)
                .filter(|h| h.is_ascii_digit() || (b'A'..=b'F').contains(h))
                .count()
                == 2
        } else {
            b.is_ascii_alphanumeric() || b"-._~".contains(&b)
        };
        if !ok {
            return false;
        }
    }
    true
}

#[test]
fn encoding_then_decoding_gives_back_any_text() {
    let mut rng = Rng::new(1);
    for _ in 0..CASES {
        let s = text(&mut rng, 24);
        let e = encode_component(&s);
        assert!(only_unreserved_and_escapes(&e), "{s:?} encodes to {e:?}");
        assert_eq!(decode_component(&e).as_deref(), Some(s.as_str()), "{e:?}");
    }
}

#[test]
fn a_query_of_encoded_pairs_decodes_to_the_same_pairs() {
    let mut rng = Rng::new(2);
    for _ in 0..CASES {
        let pairs: Vec<(String, String)> = (0..rng.below(6))
            .map(|_| (text(&mut rng, 8), text(&mut rng, 8)))
            .collect();
        let query: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
            .collect();
        let query = format!("?{}", query.join("&"));
        assert_eq!(decode_query(&query), (pairs, Vec::new()), "{query}");
    }
}

#[test]
fn plus_is_a_space_and_broken_escapes_or_bytes_decode_to_nothing() {
    assert_eq!(decode_component("a+b%2Bc").as_deref(), Some("a b+c"));
    assert_eq!(decode_component("%e2%88%9E").as_deref(), Some("∞"));
    for broken in [
        "%",
        "%4",
        "%ZZ",
        "%4G",
        "a%",
        "%FF",
        "%C3%28",
        "%E2%88",
        "%F0%9F%98",
    ] {
        assert_eq!(decode_component(broken), None, "{broken}");
    }
    let (pairs, broken) = decode_query("k=%FF&eps=3&%4=1&&=&x");
    assert_eq!(
        pairs,
        [
            ("eps".to_string(), "3".to_string()),
            (String::new(), String::new()),
            ("x".to_string(), String::new()),
        ]
    );
    assert_eq!(broken, ["k=%FF", "%4=1"]);
}

/// A valid text for `field`: a choice, or a number within its bounds (often a bound itself),
/// written as the page's fields or a person might.
fn valid_value(rng: &mut Rng, field: &Field) -> String {
    loop {
        let candidate = match &field.rule {
            Rule::Choice(ids) => ids[rng.below(ids.len())].to_string(),
            Rule::Number(Bounds::Whole(min, max)) => match rng.below(4) {
                0 => min.to_string(),
                1 => max.to_string(),
                _ => (min + rng.below(max - min + 1)).to_string(),
            },
            Rule::Number(bounds) => {
                let (min, max) = (bounds.lo(), bounds.hi());
                let v = match rng.below(4) {
                    0 => max,
                    _ => min + (max - min) * f64::from(rng.unit_f32()),
                };
                if rng.below(2) == 0 {
                    format!("{v}")
                } else {
                    format!("{v:e}")
                }
            }
        };
        // Bounds met in f64 may fall outside once the page reads them as f32.
        if field.accepts(&candidate).is_ok() {
            return candidate;
        }
    }
}

/// Random settings that are valid alone and together: some preset or none, and about a
/// third of the settings changed.
fn valid_settings(rng: &mut Rng) -> Settings {
    let mut settings = Settings::default();
    if let Some(&p) = Preset::ALL.get(rng.below(Preset::ALL.len() + 2)) {
        settings.apply_preset(p);
    }
    for field in fields() {
        if rng.below(3) == 0 {
            settings.set(field.key, &valid_value(rng, &field));
        }
    }
    // The settings that clash together.
    if settings.get("norm") == "linf" && settings.get("eps").parse::<f32>().unwrap() > 1.0 {
        settings.set("eps", LINF_EPS);
    }
    if settings.get("dataset") == "fashion" {
        settings.set("images", "bundle");
    }
    let size = |key| settings.get(key).parse::<usize>().unwrap();
    if ToyModelConfig::hidden_weights(size("width"), size("depth"))
        > ToyModelConfig::MAX_HIDDEN_WEIGHTS
    {
        settings.set("depth", "1");
    }
    settings
}

#[test]
fn valid_settings_come_back_from_their_link_without_notices() {
    let mut rng = Rng::new(3);
    for _ in 0..CASES {
        let settings = valid_settings(&mut rng);
        let (query, invalid) = settings.query(true);
        assert!(invalid.is_empty(), "{invalid:?}");
        for q in [query.clone(), format!("?{query}")] {
            let parsed = parse(&q);
            assert!(parsed.notices.is_empty(), "{q}: {:?}", parsed.notices);
            assert_eq!(parsed.settings, settings, "{q}");
        }
        // The canonical query is a fixed point.
        assert_eq!(parse(&query).settings.query(true).0, query);
    }
}

/// The texts a number setting's reader and link meet at its edges: the ends, just inside and
/// just outside them (by a thousandth of the range, and by a part in 10^7, where f32 rounds),
/// in several spellings, and a few that are not whole or not numbers.
fn edge_texts(bounds: Bounds) -> Vec<String> {
    let (lo, hi) = (bounds.lo(), bounds.hi());
    let step = (hi - lo) * 1e-3;
    let mut texts = Vec::new();
    for v in [
        lo - step,
        lo + step,
        hi - step,
        hi + step,
        lo * (1.0 - 1e-7),
        lo * (1.0 + 1e-7),
        hi * (1.0 + 1e-7),
        lo - 1.0,
        hi + 1.0,
    ] {
        texts.extend([format!("{v}"), format!("{v:e}"), format!("{v:.1}")]);
    }
    texts.extend(["2.5", "-0", "1e39", "inf", "NaN", "", "x"].map(String::from));
    texts
}

/// Whether `v` lies in `bounds`, read off the bounds without the code under test.
fn inside(bounds: Bounds, v: f64) -> bool {
    match bounds {
        Bounds::Whole(lo, hi) => v.fract() == 0.0 && v >= lo as f64 && v <= hi as f64,
        Bounds::Closed(lo, hi) => v >= lo && v <= hi,
        Bounds::Above(lo, hi) => v > lo && v <= hi,
    }
}

#[test]
fn a_link_takes_each_number_settings_ends_and_only_what_its_reader_reads() {
    for field in fields() {
        let Rule::Number(bounds) = field.rule else {
            continue;
        };
        let key = field.key;
        // The ends as a person writes them: a closed end is taken, an open one refused (a
        // link with lr=0.000001 was refused when 1e-6 was compared in f32 against f64).
        let (lo, hi) = bounds.attributes();
        assert_eq!(field.rule.check(&hi), Ok(()), "{key}={hi}");
        assert_eq!(
            field.rule.check(&lo).is_ok(),
            !matches!(bounds, Bounds::Above(..)),
            "{key}={lo}"
        );
        for text in edge_texts(bounds) {
            let linked = field.rule.check(&text).is_ok();
            let read = match bounds {
                Bounds::Whole(..) => whole(key, &text, bounds).map(|v| v as f64),
                _ => real::<f64>(key, &text, bounds),
            };
            if linked {
                // What the link takes, the reader reads, and it lies in the bounds.
                let v = read.unwrap_or_else(|e| panic!("{key}={text}: {e}"));
                assert!(inside(bounds, v), "{key}={text}");
                if let Bounds::Whole(..) = bounds {
                    assert_eq!(Ok(v as usize), text.parse::<usize>(), "{key}={text}");
                }
            } else if let Ok(v) = text.parse::<f64>() {
                // What it refuses lies outside the bounds, or is a whole setting's number
                // spelled otherwise than in digits, or is inside only in f64, not in f32.
                let f32_outside = !inside(bounds, f64::from(v as f32))
                    || !(v as f32).is_finite()
                    || real::<f32>(key, &text, bounds).is_err();
                let spelled = matches!(bounds, Bounds::Whole(..)) && text.parse::<usize>().is_err();
                assert!(!inside(bounds, v) || spelled || f32_outside, "{key}={text}");
            }
        }
        // The link takes its default without a check; the panel reads it with one.
        if !field.default.is_empty() {
            assert_eq!(field.rule.check(&field.default), Ok(()), "{key}");
        }
    }
}

#[test]
fn the_link_leaves_out_defaults_and_invalid_settings_and_embed_unless_asked() {
    let mut settings = Settings::default();
    assert_eq!(settings.query(true), (String::new(), Vec::new()));
    settings.set("eps", "3");
    settings.set("steps", "abc");
    settings.set("embed", "1");
    settings.set("norm", "l2");
    let (query, invalid) = settings.query(false);
    assert_eq!(query, "eps=3");
    assert_eq!(invalid, ["steps (“abc”)"]);
    assert_eq!(settings.query(true).0, "eps=3&embed=1");
}

#[test]
fn a_presets_link_names_only_the_preset_and_the_link_overrides_it() {
    for p in Preset::ALL {
        let mut settings = Settings::default();
        settings.apply_preset(p);
        assert_eq!(settings.query(false).0, format!("preset={}", p.id()));
        let parsed = parse(&format!("preset={}", p.id()));
        assert!(parsed.notices.is_empty(), "{:?}", parsed.notices);
        assert_eq!(parsed.settings, settings);
        assert_eq!(settings.get("panel"), p.panel().id());
    }
    let parsed = parse("preset=clinging&world=sine&noise=0.2");
    assert_eq!(parsed.settings.preset, Some(Preset::Clinging));
    assert_eq!(parsed.settings.get("world"), "sine");
    assert_eq!(parsed.settings.get("noise"), "0.2");
    assert_eq!(parsed.settings.get("panel"), "toy");
    // A bad value falls back to the preset's, not the default.
    let parsed = parse("preset=random-subspace&plane=bogus");
    assert_eq!(parsed.settings.get("plane"), "on-random");
    assert_eq!(parsed.notices.len(), 1, "{:?}", parsed.notices);
}

#[test]
fn a_preset_resets_its_panels_settings_and_keeps_the_others() {
    let mut settings = Settings::default();
    settings.set("noise", "0.3");
    settings.set("eps", "3");
    settings.set("range_h", "4");
    settings.apply_preset(Preset::Clinging);
    assert_eq!(settings.get("noise"), Settings::default().get("noise"));
    assert_eq!(settings.get("eps"), "3");
    settings.apply_preset(Preset::OnOff);
    assert_eq!(settings.get("eps"), Settings::default().get("eps"));
    assert_eq!(settings.get("range_h"), Settings::default().get("range_h"));
    assert_eq!(settings.get("digit"), "0");
    assert_eq!(settings.get("world"), "paper");
}

#[test]
fn malformed_links_get_a_notice_and_keep_the_default() {
    let default = Settings::default();
    let long = "9".repeat(10_000);
    let cases: Vec<(String, &str, &str)> = vec![
        ("eps=abc".into(), "eps to “abc”", "eps"),
        ("eps=1e999".into(), "eps to “1e999”", "eps"),
        ("eps=inf".into(), "eps to “inf”", "eps"),
        ("eps=-inf".into(), "eps to “-inf”", "eps"),
        ("lr=NaN".into(), "lr to “NaN”", "lr"),
        (
            "eps=".into(),
            "eps to “”, but it must be a number above 0",
            "eps",
        ),
        (
            "eps=0".into(),
            "must be a number above 0 and at most 28",
            "eps",
        ),
        ("steps=-5".into(), "whole number from 1 to 1000", "steps"),
        (
            "steps=99999999999999999999999".into(),
            "steps to “9",
            "steps",
        ),
        ("seed=4294967296".into(), "from 0 to 4294967295", "seed"),
        ("model=resnet".into(), "must be one of mlp, cnn", "model"),
        ("k=%FF".into(), "not properly encoded", "k"),
        ("k=%C3%28".into(), "not properly encoded", "k"),
        ("k=%4".into(), "not properly encoded", "k"),
        ("%E0%A4%A=1".into(), "not properly encoded", "k"),
        ("foo=1&bar=2".into(), "does not know", "eps"),
        ("preset=nope".into(), "unknown preset “nope”", "panel"),
        (format!("eps={long}"), "(10000 characters)", "eps"),
        (format!("{long}=1"), "does not know", "eps"),
    ];
    for (query, notice, key) in &cases {
        let parsed = parse(query);
        let q = &query[..query.len().min(40)];
        assert!(
            parsed.notices.iter().any(|n| n.contains(notice)),
            "{q}: {:?}",
            parsed.notices
        );
        assert_eq!(parsed.settings.get(key), default.get(key), "{q}");
        assert_eq!(parsed.settings.preset, None, "{q}");
    }
}

#[test]
fn repeated_unknown_and_clashing_settings_are_each_said_once() {
    let parsed = parse("eps=2&eps=3&eps=4");
    assert_eq!(parsed.settings.get("eps"), "4");
    assert_eq!(
        parsed.notices,
        ["The link sets eps more than once; the last value is used."]
    );

    let unknown: Vec<String> = (0..11).map(|i| format!("x{i}=1&x{i}=2")).collect();
    let parsed = parse(&unknown.join("&"));
    assert_eq!(parsed.notices.len(), 1, "{:?}", parsed.notices);
    assert!(
        parsed.notices[0].ends_with("“x7” and 3 more."),
        "{:?}",
        parsed.notices
    );

    let parsed = parse("norm=linf");
    assert_eq!(parsed.settings.get("eps"), LINF_EPS);
    assert!(parsed.notices[0].contains("L∞ attack with eps 2"));
    let parsed = parse("norm=linf&eps=0.5");
    assert!(parsed.notices.is_empty() && parsed.settings.get("eps") == "0.5");

    let parsed = parse("width=1024&depth=8");
    let default = Settings::default();
    assert_eq!(parsed.settings.get("width"), default.get("width"));
    assert_eq!(parsed.settings.get("depth"), default.get("depth"));
    assert_eq!(
        parsed.notices,
        [format!(
            "The link asks for a toy network of width 1024 at depth 8, too large for the page \
             ((depth − 1) × width² may be at most 262144); using width {} at depth {}.",
            default.get("width"),
            default.get("depth")
        )]
    );
    assert!(parse("width=512&depth=2").notices.is_empty());

    let parsed = parse("dataset=fashion&images=full");
    assert_eq!(parsed.settings.get("images"), "bundle");
    assert_eq!(parsed.settings.get("dataset"), "fashion");
    assert!(parsed.notices[0].contains("full set of Fashion-MNIST"));
}

#[test]
fn empty_values_are_fine_where_the_default_is_empty() {
    let parsed = parse("target=&digit=&panel=&");
    assert!(parsed.notices.is_empty(), "{:?}", parsed.notices);
    assert_eq!(parsed.settings, Settings::default());
    let parsed = parse("digit=abc");
    assert!(
        parsed.notices[0].ends_with("using none instead."),
        "{:?}",
        parsed.notices
    );
    assert_eq!(parsed.settings.get("digit"), "");
}

/// A random query, made to meet the decoder's cases: known and unknown keys, valid and
/// invalid values, escapes whole and broken, repeated and empty parts.
fn garbled_query(rng: &mut Rng, fields: &[Field]) -> String {
    let parts: Vec<String> = (0..rng.below(8))
        .map(|_| {
            let field = &fields[rng.below(fields.len())];
            let key = match rng.below(6) {
                0 => text(rng, 6),
                1 => "preset".to_string(),
                _ => field.key.to_string(),
            };
            let value = match rng.below(6) {
                0 => text(rng, 10),
                1 => ["%", "%4", "%FF", "%C3%28", "NaN", "inf", "1e999", "-1"][rng.below(8)].into(),
                2 => Preset::ALL[rng.below(Preset::ALL.len())].id().to_string(),
                3 => encode_component(&text(rng, 6)),
                _ => valid_value(rng, field),
            };
            match rng.below(8) {
                0 => key,
                1 => String::new(),
                _ => format!("{key}={value}"),
            }
        })
        .collect();
    parts.join("&")
}

#[test]
fn any_query_parses_to_valid_settings_whose_link_parses_back_to_them() {
    let mut rng = Rng::new(4);
    let fields = fields();
    let mut with_notices = 0;
    for _ in 0..CASES * 5 {
        let query = garbled_query(&mut rng, &fields);
        let parsed = parse(&query);
        with_notices += usize::from(!parsed.notices.is_empty());
        let settings = &parsed.settings;
        for field in &fields {
            let value = settings.get(field.key);
            assert!(field.accepts(value).is_ok() || value == settings.baseline(field));
        }
        let (link, invalid) = settings.query(true);
        assert!(invalid.is_empty(), "{query}: {invalid:?}");
        let again = parse(&link);
        assert!(
            again.notices.is_empty(),
            "{query} → {link}: {:?}",
            again.notices
        );
        assert_eq!(&again.settings, settings, "{query} → {link}");
    }
    // The generator does reach the notices (and not only them).
    assert!((CASES..CASES * 5).contains(&with_notices), "{with_notices}");
}
