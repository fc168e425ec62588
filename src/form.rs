//! What a visitor typed into a number field, read and checked: the page's logic that needs no
//! browser, so native tests reach it.
//!
//! A refusal names the setting and repeats what was typed, never a number the parse made of it:
//! `1e300` epochs is refused as "not 1e300", not as the largest integer it would saturate to.

/// Seeds the page takes: any 32-bit value.
pub const SEED: (usize, usize) = (0, u32::MAX as usize);

/// The largest L2 distance between two 28 × 28 images with pixels in [0, 1] (black and white,
/// √784 = 28): no radius or range on them needs more.
pub const IMAGE_DIAMETER: f64 = 28.0;

/// An L2 radius or range on the 28 × 28 images: above 0 and at most [`IMAGE_DIAMETER`].
pub const L2_RADIUS: Bounds = Bounds::Above(0.0, IMAGE_DIAMETER);

/// The range a number setting may take, stated once: its panel reads what was typed against
/// it ([`whole`], [`real`]), its field shows it as the input's `min` and `max`
/// (`web::fields::NumberField`), and a link is checked against it (`crate::link`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bounds {
    /// A whole number from the first to the second.
    Whole(usize, usize),
    /// A number from the first to the second.
    Closed(f64, f64),
    /// A number above the first and at most the second.
    Above(f64, f64),
}

impl From<(usize, usize)> for Bounds {
    fn from((lo, hi): (usize, usize)) -> Self {
        Self::Whole(lo, hi)
    }
}

impl From<(f64, f64)> for Bounds {
    fn from((lo, hi): (f64, f64)) -> Self {
        Self::Closed(lo, hi)
    }
}

impl Bounds {
    /// The least end (excluded for [`Bounds::Above`]).
    pub fn lo(self) -> f64 {
        match self {
            // Every usize bound is exact in f64 up to 2^53, far beyond any setting's range.
            Self::Whole(lo, _) => lo as f64,
            Self::Closed(lo, _) | Self::Above(lo, _) => lo,
        }
    }

    /// The greatest end.
    pub fn hi(self) -> f64 {
        match self {
            Self::Whole(_, hi) => hi as f64,
            Self::Closed(_, hi) | Self::Above(_, hi) => hi,
        }
    }

    /// The field's `min` and `max` attributes: the ends as a person writes them (1e-6 as
    /// 0.000001, 2^32 − 1 in full). An excluded end is still the attribute, as a hint.
    pub fn attributes(self) -> (String, String) {
        (self.lo().to_string(), self.hi().to_string())
    }

    /// The field's `step` where it names none: whole numbers step by 1, others take any value.
    pub fn step(self) -> &'static str {
        match self {
            Self::Whole(..) => "1",
            Self::Closed(..) | Self::Above(..) => "any",
        }
    }

    /// Whether `v` (in the reader's type `T`) lies in the bounds, the ends rounded to `T` as
    /// the typed value was.
    fn admits<T: Real>(self, v: T) -> bool {
        let (lo, hi) = (T::of(self.lo()), T::of(self.hi()));
        match self {
            Self::Whole(..) | Self::Closed(..) => v >= lo && v <= hi,
            Self::Above(..) => v > lo && v <= hi,
        }
    }

    /// What a value must be, after "must be".
    fn wants(self) -> String {
        let (lo, hi) = (self.lo(), self.hi());
        match self {
            Self::Whole(..) | Self::Closed(..) => format!("between {lo} and {hi}"),
            Self::Above(..) => format!("above {lo} and at most {hi}"),
        }
    }

    /// Checks the text a link holds for this setting, as every reader of it would see it:
    /// whole bounds as [`whole`], others as both [`real`]`::<f32>` and `::<f64>`, so that no
    /// link gives a panel a value it refuses. The error says what the value must be.
    pub fn check_link(self, text: &str) -> Result<(), String> {
        match self {
            Self::Whole(lo, hi) => text
                .parse::<usize>()
                .ok()
                .filter(|v| (lo..=hi).contains(v))
                .map(|_| ())
                .ok_or_else(|| format!("must be a whole number from {lo} to {hi}")),
            _ => (real::<f32>("", text, self).is_ok() && real::<f64>("", text, self).is_ok())
                .then_some(())
                .ok_or_else(|| format!("must be a number {}", self.wants())),
        }
    }
}

/// The number types a setting is read as.
pub trait Real: std::str::FromStr + Copy + Into<f64> + PartialOrd {
    /// `v` rounded to this type.
    fn of(v: f64) -> Self;
}

impl Real for f32 {
    fn of(v: f64) -> Self {
        v as f32
    }
}

impl Real for f64 {
    fn of(v: f64) -> Self {
        v
    }
}

/// `text` as a finite number of type `T` (`f32` or `f64`): a value too large for `T` is refused
/// as infinite.
pub fn number<T: Real>(name: &str, text: &str) -> Result<T, String> {
    let typed = text.trim();
    let v: T = typed
        .parse()
        .map_err(|_| format!("{name} must be a number, not {text:?}"))?;
    if v.into().is_finite() {
        Ok(v)
    } else {
        Err(format!("{name} must be a finite number, not {typed}"))
    }
}

/// `text` as a finite number of type `T` in `bounds` (whole bounds ask for a whole number).
pub fn real<T: Real>(name: &str, text: &str, bounds: impl Into<Bounds>) -> Result<T, String> {
    let bounds = bounds.into();
    if let Bounds::Whole(..) = bounds {
        return whole(name, text, bounds).map(|v| T::of(v as f64));
    }
    let v: T = number(name, text)?;
    if bounds.admits(v) {
        Ok(v)
    } else {
        Err(format!(
            "{name} must be {}, not {}",
            bounds.wants(),
            text.trim()
        ))
    }
}

/// `text` as a whole number in `bounds`; the range is checked before any conversion, so
/// nothing saturates.
pub fn whole(name: &str, text: &str, bounds: impl Into<Bounds>) -> Result<usize, String> {
    let bounds = bounds.into();
    let typed = text.trim();
    let v: f64 = number(name, text)?;
    if v.fract() != 0.0 || v < 0.0 {
        return Err(format!("{name} must be a whole number, not {typed}"));
    }
    if !bounds.admits(v) {
        return Err(format!("{name} must be {}, not {typed}", bounds.wants()));
    }
    Ok(v as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_whole_number_in_range_reads_as_itself_in_any_spelling() {
        let range = (1, 4096);
        for n in [1usize, 2, 63, 64, 200, 4095, 4096] {
            for text in [
                n.to_string(),
                format!(" {n} "),
                format!("{n}.0"),
                format!("{:e}", n as f64),
            ] {
                assert_eq!(whole("batch size", &text, range), Ok(n), "{text:?}");
            }
        }
        assert_eq!(
            whole("seed", "4294967295", (0, u32::MAX as usize)),
            Ok(u32::MAX as usize)
        );
    }

    #[test]
    fn a_refusal_repeats_what_was_typed_never_a_saturated_number() {
        let seed = (0, u32::MAX as usize);
        for (text, range, expect) in [
            (
                "1e300",
                (1, 200),
                "epochs must be between 1 and 200, not 1e300",
            ),
            ("201", (1, 200), "epochs must be between 1 and 200, not 201"),
            ("0", (1, 200), "epochs must be between 1 and 200, not 0"),
            (
                "5000000000",
                seed,
                "epochs must be between 0 and 4294967295, not 5000000000",
            ),
            (
                "18446744073709551616",
                seed,
                "epochs must be between 0 and 4294967295, not 18446744073709551616",
            ),
            ("-3", (1, 200), "epochs must be a whole number, not -3"),
            ("2.5", (1, 200), "epochs must be a whole number, not 2.5"),
            ("inf", (1, 200), "epochs must be a finite number, not inf"),
            ("NaN", (1, 200), "epochs must be a finite number, not NaN"),
            ("", (1, 200), "epochs must be a number, not \"\""),
            ("ten", (1, 200), "epochs must be a number, not \"ten\""),
        ] {
            assert_eq!(
                whole("epochs", text, range),
                Err(expect.to_string()),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_number_between_bounds_includes_them_and_names_what_was_typed_outside() {
        let noise = (0.0, 0.5);
        for (text, v) in [
            ("0", 0.0f32),
            ("-0", 0.0),
            ("0.5", 0.5),
            (" 0.25 ", 0.25),
            ("5e-1", 0.5),
        ] {
            assert_eq!(real("noise", text, noise), Ok(v), "{text:?}");
        }
        for (text, expect) in [
            ("0.6", "noise must be between 0 and 0.5, not 0.6"),
            ("-1e-30", "noise must be between 0 and 0.5, not -1e-30"),
            ("1e300", "noise must be a finite number, not 1e300"),
            ("NaN", "noise must be a finite number, not NaN"),
            ("half", "noise must be a number, not \"half\""),
        ] {
            assert_eq!(
                real::<f32>("noise", text, noise),
                Err(expect.to_string()),
                "{text:?}"
            );
        }
        assert_eq!(
            real::<f64>("learning rate", "2", (1e-6, 1.0)),
            Err("learning rate must be between 0.000001 and 1, not 2".to_string())
        );
    }

    #[test]
    fn open_ends_are_refused_and_the_attributes_state_the_ends_in_full() {
        let radius = L2_RADIUS;
        assert_eq!(real::<f32>("eps", "28", radius), Ok(28.0));
        assert_eq!(real::<f32>("eps", "1e-30", radius), Ok(1e-30));
        for text in ["0", "-0", "28.001"] {
            assert_eq!(
                real::<f32>("eps", text, radius),
                Err(format!("eps must be above 0 and at most 28, not {text}"))
            );
        }
        // Whole bounds read as a real number still ask for a whole one.
        assert_eq!(real::<f64>("epochs", "3", (1, 200)), Ok(3.0));
        assert_eq!(
            real::<f64>("epochs", "2.5", (1, 200)),
            Err("epochs must be a whole number, not 2.5".to_string())
        );
        assert_eq!(
            Bounds::from(SEED).attributes(),
            ("0".to_string(), "4294967295".to_string())
        );
        assert_eq!(
            Bounds::from((1e-6, 1.0)).attributes(),
            ("0.000001".to_string(), "1".to_string())
        );
        assert_eq!(
            whole("seed", &Bounds::from(SEED).attributes().1, SEED),
            Ok(SEED.1)
        );
        assert_eq!((Bounds::from(SEED).step(), L2_RADIUS.step()), ("1", "any"));
    }

    #[test]
    fn an_f32_setting_takes_its_own_ends_though_f32_rounds_them() {
        // 1e-6 as f32 is below 1e-6 as f64: the end is rounded as the value is.
        let rate = Bounds::Closed(1e-6, 1.0);
        assert_eq!(real::<f32>("learning rate", "0.000001", rate), Ok(1e-6));
        assert_eq!(real::<f64>("learning rate", "0.000001", rate), Ok(1e-6));
        assert_eq!(rate.check_link("0.000001"), Ok(()));
        assert_eq!(rate.check_link("1e-6"), Ok(()));
        // Past f32's range: one reader would refuse it, so the link does.
        let wide = Bounds::Closed(0.0, 1e300);
        assert!(real::<f64>("x", "1e39", wide).is_ok());
        assert!(wide.check_link("1e39").is_err());
        assert_eq!(wide.check_link("1e38"), Ok(()));
    }

    #[test]
    fn a_number_must_be_finite() {
        assert_eq!(number("eps", " 0.5 "), Ok(0.5f64));
        assert_eq!(number("eps", "1e-300"), Ok(1e-300f64));
        assert_eq!(number("eps", "1e38"), Ok(1e38f32));
        for text in ["1e400", "-inf"] {
            assert!(
                number::<f64>("eps", text).unwrap_err().contains("finite"),
                "{text}"
            );
        }
        // Finite as f64, past f32's range.
        assert_eq!(
            number::<f32>("eps", "1e39"),
            Err("eps must be a finite number, not 1e39".to_string())
        );
        assert!(
            number::<f64>("eps", "0x10")
                .unwrap_err()
                .contains("must be a number")
        );
    }
}
