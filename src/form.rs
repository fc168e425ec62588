//! What a visitor typed into a number field, read and checked: the page's logic that needs no
//! browser, so native tests reach it.
//!
//! A refusal names the setting and repeats what was typed, never a number the parse made of it:
//! `1e300` epochs is refused as "not 1e300", not as the largest integer it would saturate to.

/// Seeds the page takes: any 32-bit value.
pub const SEED: (usize, usize) = (0, u32::MAX as usize);
/// [`SEED`]'s upper bound as the seed fields' `max` attribute states it.
pub const SEED_MAX: &str = "4294967295";

/// `text` as a finite number of type `T` (`f32` or `f64`): a value too large for `T` is refused
/// as infinite.
pub fn number<T: std::str::FromStr + Copy + Into<f64>>(
    name: &str,
    text: &str,
) -> Result<T, String> {
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

/// `text` as a finite number from `lo` to `hi` (`f32` or `f64`).
pub fn between<T: std::str::FromStr + Copy + Into<f64> + PartialOrd + std::fmt::Display>(
    name: &str,
    text: &str,
    (lo, hi): (T, T),
) -> Result<T, String> {
    let v: T = number(name, text)?;
    if v >= lo && v <= hi {
        Ok(v)
    } else {
        Err(format!(
            "{name} must be between {lo} and {hi}, not {}",
            text.trim()
        ))
    }
}

/// `text` as a whole number from `lo` to `hi`; the range is checked before any conversion, so
/// nothing saturates.
pub fn whole(name: &str, text: &str, (lo, hi): (usize, usize)) -> Result<usize, String> {
    let typed = text.trim();
    let v: f64 = number(name, text)?;
    if v.fract() != 0.0 || v < 0.0 {
        return Err(format!("{name} must be a whole number, not {typed}"));
    }
    // Every usize bound is exact in f64 up to 2^53, far beyond any setting's range.
    if v < lo as f64 || v > hi as f64 {
        return Err(format!("{name} must be between {lo} and {hi}, not {typed}"));
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
        let noise = (0.0f32, 0.5f32);
        for (text, v) in [
            ("0", 0.0),
            ("-0", 0.0),
            ("0.5", 0.5),
            (" 0.25 ", 0.25),
            ("5e-1", 0.5),
        ] {
            assert_eq!(between("noise", text, noise), Ok(v), "{text:?}");
        }
        for (text, expect) in [
            ("0.6", "noise must be between 0 and 0.5, not 0.6"),
            ("-1e-30", "noise must be between 0 and 0.5, not -1e-30"),
            ("1e300", "noise must be a finite number, not 1e300"),
            ("NaN", "noise must be a finite number, not NaN"),
            ("half", "noise must be a number, not \"half\""),
        ] {
            assert_eq!(
                between("noise", text, noise),
                Err(expect.to_string()),
                "{text:?}"
            );
        }
        assert_eq!(
            between("learning rate", "2", (1e-6f64, 1.0)),
            Err("learning rate must be between 0.000001 and 1, not 2".to_string())
        );
    }

    #[test]
    fn the_seed_fields_bound_is_the_bound_checked() {
        assert_eq!(SEED_MAX.parse::<usize>(), Ok(SEED.1));
        assert_eq!(whole("seed", SEED_MAX, SEED), Ok(SEED.1));
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
