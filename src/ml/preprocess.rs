//! Turning a picture (a digit drawn on the page or an uploaded photo) into an MNIST-like
//! image, the way MNIST itself was made: the digit's bounding box scaled to fit 20×20 with
//! its aspect ratio kept, placed in a 28×28 field so that its centre of mass sits at the
//! centre, then slightly smoothed.
//!
//! Images here are row-major `f32` "ink" maps: 0 is background, 1 is full ink (MNIST draws
//! ink bright on black). Nothing here knows about canvases or files; the page decodes those
//! to RGBA bytes first.

/// Side of an MNIST image.
pub const SIDE: usize = 28;
/// Side of the box the digit's longer side is scaled to.
pub const BOX: usize = 20;
/// Ink below this is background when finding the bounding box.
pub const INK_THRESHOLD: f32 = 0.1;

/// RGBA bytes (row-major, `width × height × 4`) as an ink map. Transparent pixels count as
/// paper: each pixel is composited over white, turned into luminance, and the result is
/// inverted when the picture's border is mostly light (dark ink on light paper), so that ink
/// is bright like in MNIST.
pub fn ink_from_rgba(rgba: &[u8], width: usize, height: usize) -> Vec<f32> {
    assert_eq!(
        rgba.len(),
        width * height * 4,
        "rgba must hold width × height pixels"
    );
    let luminance: Vec<f32> = rgba
        .chunks_exact(4)
        .map(|p| {
            let alpha = f32::from(p[3]) / 255.0;
            let grey =
                (0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
                    / 255.0;
            alpha * grey + (1.0 - alpha)
        })
        .collect();
    let border: Vec<f32> = (0..height)
        .flat_map(|y| (0..width).map(move |x| (x, y)))
        .filter(|&(x, y)| x == 0 || y == 0 || x + 1 == width || y + 1 == height)
        .map(|(x, y)| luminance[y * width + x])
        .collect();
    let light_paper = border.iter().sum::<f32>() > 0.5 * border.len() as f32;
    luminance
        .into_iter()
        .map(|l| if light_paper { 1.0 - l } else { l })
        .collect()
}

/// The smallest rectangle `(x0, y0, x1, y1)` (end exclusive) holding every pixel with ink
/// above `threshold`, or `None` if there is none.
pub fn bounding_box(
    image: &[f32],
    width: usize,
    height: usize,
    threshold: f32,
) -> Option<(usize, usize, usize, usize)> {
    let mut found: Option<(usize, usize, usize, usize)> = None;
    for y in 0..height {
        for x in 0..width {
            if image[y * width + x] > threshold {
                found = Some(match found {
                    None => (x, y, x + 1, y + 1),
                    Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1)),
                });
            }
        }
    }
    found
}

/// The rectangle `(x0, y0, x1, y1)` (end exclusive) of `image`.
pub fn crop(
    image: &[f32],
    width: usize,
    (x0, y0, x1, y1): (usize, usize, usize, usize),
) -> Vec<f32> {
    (y0..y1)
        .flat_map(|y| image[y * width + x0..y * width + x1].iter().copied())
        .collect()
}

/// Resamples `image` to `to_width × to_height` by area averaging: each new pixel is the
/// mean of the source area it covers, with fractional overlaps weighted, so that shrinking
/// keeps thin strokes as grey instead of dropping them. Growing repeats pixels.
pub fn resize_area(
    image: &[f32],
    width: usize,
    height: usize,
    to_width: usize,
    to_height: usize,
) -> Vec<f32> {
    // The source interval covered by destination cell i, and each source cell's share of it.
    let weights = |from: usize, to: usize| -> Vec<Vec<(usize, f32)>> {
        let scale = from as f64 / to as f64;
        (0..to)
            .map(|i| {
                let (lo, hi) = (i as f64 * scale, (i + 1) as f64 * scale);
                (lo.floor() as usize..(hi.ceil() as usize).min(from))
                    .map(|s| {
                        let overlap = (hi.min(s as f64 + 1.0) - lo.max(s as f64)).max(0.0);
                        (s, (overlap / scale) as f32)
                    })
                    .filter(|&(_, w)| w > 0.0)
                    .collect()
            })
            .collect()
    };
    let (wx, wy) = (weights(width, to_width), weights(height, to_height));
    let mut out = vec![0.0; to_width * to_height];
    for (y, row_weights) in wy.iter().enumerate() {
        for (x, col_weights) in wx.iter().enumerate() {
            out[y * to_width + x] = row_weights
                .iter()
                .flat_map(|&(sy, a)| col_weights.iter().map(move |&(sx, b)| (sy, sx, a * b)))
                .map(|(sy, sx, w)| w * image[sy * width + sx])
                .sum();
        }
    }
    out
}

/// The centre of mass `(x, y)` of the ink, in pixel coordinates where pixel (i, j) covers
/// [i, i + 1) × [j, j + 1), or `None` for an empty image.
pub fn centre_of_mass(image: &[f32], width: usize, height: usize) -> Option<(f32, f32)> {
    let (mut mass, mut mx, mut my) = (0.0f64, 0.0f64, 0.0f64);
    for y in 0..height {
        for x in 0..width {
            let v = f64::from(image[y * width + x].max(0.0));
            mass += v;
            mx += v * (x as f64 + 0.5);
            my += v * (y as f64 + 0.5);
        }
    }
    (mass > 0.0).then(|| ((mx / mass) as f32, (my / mass) as f32))
}

/// A `side × side` field with `image` (`width × height`) pasted so that its centre of mass
/// lands on the field's centre, to the nearest whole pixel. Ink shifted past the edge is
/// lost.
pub fn place_centred(image: &[f32], width: usize, height: usize, side: usize) -> Vec<f32> {
    let mut field = vec![0.0; side * side];
    let (cx, cy) =
        centre_of_mass(image, width, height).unwrap_or((width as f32 / 2.0, height as f32 / 2.0));
    let centre = side as f32 / 2.0;
    let (dx, dy) = (
        (centre - cx).round() as isize,
        (centre - cy).round() as isize,
    );
    for y in 0..height {
        for x in 0..width {
            let (tx, ty) = (x as isize + dx, y as isize + dy);
            if (0..side as isize).contains(&tx) && (0..side as isize).contains(&ty) {
                field[ty as usize * side + tx as usize] = image[y * width + x];
            }
        }
    }
    field
}

/// A light smoothing: the separable kernel [1, 2, 1] / 4 along rows then columns (a 3×3
/// binomial blur), with the edge pixels repeated.
pub fn smooth(image: &[f32], width: usize, height: usize) -> Vec<f32> {
    let pass = |src: &[f32], step_x: usize, step_y: usize| -> Vec<f32> {
        let at = |x: isize, y: isize| {
            let x = x.clamp(0, width as isize - 1) as usize;
            let y = y.clamp(0, height as isize - 1) as usize;
            src[y * width + x]
        };
        let (sx, sy) = (step_x as isize, step_y as isize);
        (0..height as isize)
            .flat_map(|y| (0..width as isize).map(move |x| (x, y)))
            .map(|(x, y)| 0.25 * at(x - sx, y - sy) + 0.5 * at(x, y) + 0.25 * at(x + sx, y + sy))
            .collect()
    };
    pass(&pass(image, 1, 0), 0, 1)
}

/// An ink map (`width × height`) as an MNIST-like 28×28 image in [0, 1]: bounding box,
/// longer side scaled to 20, centred by centre of mass, smoothed, brightest pixel 1.
pub fn mnist_like(image: &[f32], width: usize, height: usize) -> Result<Vec<f32>, String> {
    if image.len() != width * height {
        return Err(format!(
            "{} values are not a {width}×{height} image",
            image.len()
        ));
    }
    let bounds = bounding_box(image, width, height, INK_THRESHOLD)
        .ok_or("the picture has no digit in it (no ink found)")?;
    let (x0, y0, x1, y1) = bounds;
    let (w, h) = (x1 - x0, y1 - y0);
    let digit = crop(image, width, bounds);
    let longer = w.max(h) as f64;
    let fit = |side: usize| ((side as f64 * BOX as f64 / longer).round() as usize).clamp(1, BOX);
    let (bw, bh) = (fit(w), fit(h));
    let boxed = resize_area(&digit, w, h, bw, bh);
    let field = smooth(&place_centred(&boxed, bw, bh, SIDE), SIDE, SIDE);
    let peak = field.iter().copied().fold(0.0, f32::max);
    Ok(field.iter().map(|v| (v / peak).clamp(0.0, 1.0)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `width × height` image with full ink on the rectangle `(x0, y0, x1, y1)`.
    fn rectangle(
        width: usize,
        height: usize,
        (x0, y0, x1, y1): (usize, usize, usize, usize),
    ) -> Vec<f32> {
        (0..height)
            .flat_map(|y| (0..width).map(move |x| (x, y)))
            .map(|(x, y)| {
                if (x0..x1).contains(&x) && (y0..y1).contains(&y) {
                    1.0
                } else {
                    0.0
                }
            })
            .collect()
    }

    #[test]
    fn bounding_box_is_tight_and_empty_images_have_none() {
        let image = rectangle(50, 40, (7, 3, 19, 31));
        assert_eq!(
            bounding_box(&image, 50, 40, INK_THRESHOLD),
            Some((7, 3, 19, 31))
        );
        assert_eq!(bounding_box(&[0.05; 12], 4, 3, INK_THRESHOLD), None);
        assert_eq!(crop(&image, 50, (7, 3, 19, 31)), vec![1.0; 12 * 28]);
    }

    #[test]
    fn area_resize_keeps_the_mean_and_averages_blocks() {
        let image: Vec<f32> = (0..36).map(|i| (i % 7) as f32 / 6.0).collect();
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
        for (w, h) in [(3, 3), (2, 4), (5, 5), (4, 1), (12, 9)] {
            let out = resize_area(&image, 6, 6, w, h);
            assert_eq!(out.len(), w * h);
            assert!((mean(&out) - mean(&image)).abs() < 1e-5, "{w}×{h}");
        }
        // Halving averages each 2×2 block.
        let out = resize_area(&[1.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5], 4, 2, 2, 1);
        assert_eq!(out, vec![0.5, 0.25]);
    }

    #[test]
    fn centre_of_mass_of_a_pixel_and_of_a_symmetric_shape() {
        let mut image = vec![0.0; 20];
        image[2 * 5 + 3] = 0.7;
        assert_eq!(centre_of_mass(&image, 5, 4), Some((3.5, 2.5)));
        let ring = rectangle(10, 10, (2, 2, 8, 8));
        assert_eq!(centre_of_mass(&ring, 10, 10), Some((5.0, 5.0)));
        assert_eq!(centre_of_mass(&[0.0; 4], 2, 2), None);
    }

    #[test]
    fn placing_moves_the_centre_of_mass_to_the_middle() {
        let dot = rectangle(6, 6, (0, 0, 2, 2));
        let field = place_centred(&dot, 6, 6, 28);
        assert_eq!(centre_of_mass(&field, 28, 28), Some((14.0, 14.0)));
        assert_eq!(field.iter().sum::<f32>(), 4.0);
    }

    #[test]
    fn smoothing_keeps_the_total_away_from_edges_and_spreads_one_pixel() {
        let mut image = vec![0.0; 49];
        image[3 * 7 + 3] = 1.0;
        let out = smooth(&image, 7, 7);
        assert!((out.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(out[3 * 7 + 3], 0.25);
        assert_eq!(out[2 * 7 + 2], 0.0625);
        assert_eq!(out[7 + 1], 0.0);
    }

    #[test]
    fn a_drawn_shape_becomes_an_mnist_like_digit() {
        // A thick off-centre bar, tall and thin, in a large canvas.
        let big = rectangle(280, 280, (30, 40, 70, 240));
        let digit = mnist_like(&big, 280, 280).unwrap();
        assert_eq!(digit.len(), SIDE * SIDE);
        assert_eq!(digit.iter().copied().fold(0.0, f32::max), 1.0);
        assert!(digit.iter().all(|v| (0.0..=1.0).contains(v)));
        let (cx, cy) = centre_of_mass(&digit, SIDE, SIDE).unwrap();
        assert!(
            (cx - 14.0).abs() <= 0.5 && (cy - 14.0).abs() <= 0.5,
            "({cx}, {cy})"
        );
        // Longer side 20 (200 px → 20), aspect kept (40 px → 4), one pixel of smoothing
        // around it.
        let (x0, y0, x1, y1) = bounding_box(&digit, SIDE, SIDE, 0.0).unwrap();
        assert_eq!((x1 - x0, y1 - y0), (4 + 2, 20 + 2));
        assert!(mnist_like(&vec![0.0; 100], 10, 10).is_err());
        assert!(mnist_like(&[1.0; 5], 2, 2).is_err());
    }

    #[test]
    fn dark_ink_on_light_paper_is_inverted_and_transparency_is_paper() {
        // 3×3: a black centre pixel on white; the same as white on black; black on transparent.
        let pixel = |r: u8, a: u8| [r, r, r, a];
        let picture = |ink: [u8; 4], paper: [u8; 4]| -> Vec<u8> {
            (0..9)
                .flat_map(|i| if i == 4 { ink } else { paper })
                .collect()
        };
        let expected = {
            let mut v = vec![0.0; 9];
            v[4] = 1.0;
            v
        };
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        assert!(close(
            &ink_from_rgba(&picture(pixel(0, 255), pixel(255, 255)), 3, 3),
            &expected
        ));
        assert!(close(
            &ink_from_rgba(&picture(pixel(255, 255), pixel(0, 255)), 3, 3),
            &expected
        ));
        assert!(close(
            &ink_from_rgba(&picture(pixel(0, 255), pixel(0, 0)), 3, 3),
            &expected
        ));
    }
}
