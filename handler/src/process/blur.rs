//! `blur,r_R,s_S`: Gaussian blur as the seed computes it from OSS's parameters. `s` (1–50)
//! maps to σ by the seed's fitted curve; when the kernel of radius `r` is inside the one σ
//! would need, the blur is that Gaussian cut at `r`, else libvips' `gaussblur` at σ.

use super::{params::Params, Footprint, PixelStep, StepContext};
use crate::error::Result;
use crate::guard::Deadline;
use crate::picture::Picture;
use image::{DynamicImage, GrayAlphaImage, GrayImage, RgbImage, RgbaImage};

#[derive(Debug, Clone, PartialEq)]
pub struct Blur {
    pub r: u32,
    pub s: u32,
}

impl PixelStep for Blur {
    fn parse(p: &mut Params) -> Result<Self> {
        let r = p.take_u32("r", 1..=50)?.ok_or_else(|| p.err("needs r (1..=50)"))?;
        let s = p.take_u32("s", 1..=50)?.ok_or_else(|| p.err("needs s (1..=50)"))?;
        Ok(Blur { r, s })
    }

    /// A separable blur: the frame after its first pass.
    fn footprint(&self, pic: &Picture) -> Option<Footprint> {
        Some(Footprint::same(pic, pic.frame_bytes()))
    }

    fn apply(&self, pic: &mut Picture, ctx: &StepContext) -> Result<()> {
        let kernel = self.kernel();
        pic.try_map(|f| blur(f, &kernel, ctx.deadline))
    }
}

/// Weights in 1/2^14: the passes' fixed point.
const ONE: i32 = 1 << 14;

impl Blur {
    /// The seed's one-dimensional kernel (its 2-D kernels are separable), weights in 1/2^14.
    /// The seed (`blur.ts`): σ = −0.0057 s² + 1.1787 s − 0.0694; with n = 2r + 1 under the
    /// kernel size σ needs, 2·max(⌊1.51743 σ⌋ − 1, 0) + 1, and n ≤ 51, an n×n kernel of
    /// exp(−d²/σ²); else sharp's `blur(σ)`, libvips' `gaussblur`: weights rint(20·exp(−x²/2σ²)),
    /// cut before they fall under 0.2 (`gaussmat.c`, min_ampl 0.2, integer precision).
    fn kernel(&self) -> Vec<i32> {
        let s = self.s as f64;
        let sigma = -0.0057 * s * s + 1.1787 * s - 0.0694;
        let widest = 2 * ((sigma * 1.51743).floor() as i64 - 1).max(0) + 1;
        let r = self.r as i64;
        let n = 2 * r + 1;
        let weights: Vec<f64> = if n < widest && n < 52 {
            (-r..=r).map(|x| (-((x * x) as f64) / (sigma * sigma)).exp()).collect()
        } else {
            let at = |x: i64| (-((x * x) as f64) / (2.0 * sigma * sigma)).exp();
            let cut = (0..).find(|&x| at(x) < 0.2).expect("the Gaussian falls under 0.2");
            let half = (cut - 1).max(0);
            (-half..=half).map(|x| (20.0 * at(x)).round()).collect()
        };
        let sum: f64 = weights.iter().sum();
        weights.iter().map(|w| (w / sum * ONE as f64).round() as i32).collect()
    }
}

/// Blurs 8-bit frames (others are made 8-bit first), alpha premultiplied as sharp does.
fn blur(frame: DynamicImage, kernel: &[i32], deadline: &Deadline) -> Result<DynamicImage> {
    let (w, h) = (frame.width(), frame.height());
    let size = "w × h × channels bytes";
    Ok(match frame {
        DynamicImage::ImageLuma8(img) => {
            let px = separable(img.into_raw(), w, h, 1, kernel, deadline)?;
            DynamicImage::ImageLuma8(GrayImage::from_raw(w, h, px).expect(size))
        }
        DynamicImage::ImageRgb8(img) => {
            let px = separable(img.into_raw(), w, h, 3, kernel, deadline)?;
            DynamicImage::ImageRgb8(RgbImage::from_raw(w, h, px).expect(size))
        }
        DynamicImage::ImageLumaA8(img) => {
            let px = premultiplied(img.into_raw(), 2, |px| separable(px, w, h, 2, kernel, deadline))?;
            DynamicImage::ImageLumaA8(GrayAlphaImage::from_raw(w, h, px).expect(size))
        }
        other if !other.color().has_alpha() => blur(DynamicImage::ImageRgb8(other.into_rgb8()), kernel, deadline)?,
        other => {
            let px = premultiplied(other.into_rgba8().into_raw(), 4, |px| separable(px, w, h, 4, kernel, deadline))?;
            DynamicImage::ImageRgba8(RgbaImage::from_raw(w, h, px).expect(size))
        }
    })
}

/// `f` over the pixels with their colour multiplied by their alpha, then divided again.
fn premultiplied(mut px: Vec<u8>, channels: usize, f: impl FnOnce(Vec<u8>) -> Result<Vec<u8>>) -> Result<Vec<u8>> {
    for p in px.chunks_exact_mut(channels) {
        let a = p[channels - 1] as u32;
        for c in &mut p[..channels - 1] {
            *c = ((*c as u32 * a + 127) / 255) as u8;
        }
    }
    let mut px = f(px)?;
    for p in px.chunks_exact_mut(channels) {
        let a = p[channels - 1] as u32;
        for c in &mut p[..channels - 1] {
            *c = (*c as u32 * 255 + a / 2).checked_div(a).map_or(0, |v| v.min(255)) as u8;
        }
    }
    Ok(px)
}

/// The kernel along rows, then along columns; edges extended by copying, as libvips does.
/// Its time grows with the kernel: the deadline is checked every 64 lines.
fn separable(px: Vec<u8>, w: u32, h: u32, channels: usize, kernel: &[i32], deadline: &Deadline) -> Result<Vec<u8>> {
    let (w, h) = (w as usize, h as usize);
    let half = kernel.len() / 2;
    // One line at a time, copied out with its extended edges so that each tap is one
    // contiguous multiply-add over the line (which the compiler vectorises).
    let pass = |src: &[u8], len: usize, lines: usize, step: usize, line_step: usize| {
        let mut out = vec![0u8; src.len()];
        let mut line = vec![0i32; (len + 2 * half) * channels];
        let mut acc = vec![0i32; len * channels];
        for l in 0..lines {
            if l % 64 == 0 {
                deadline.check()?;
            }
            let base = l * line_step;
            for (i, dst) in line.chunks_exact_mut(channels).enumerate() {
                let at = base + i.saturating_sub(half).min(len - 1) * step;
                for (d, s) in dst.iter_mut().zip(&src[at..at + channels]) {
                    *d = *s as i32;
                }
            }
            acc.fill(ONE / 2);
            for (k, &weight) in kernel.iter().enumerate() {
                for (a, v) in acc.iter_mut().zip(&line[k * channels..]) {
                    *a += weight * v;
                }
            }
            for (i, a) in acc.chunks_exact(channels).enumerate() {
                let at = base + i * step;
                for (d, v) in out[at..at + channels].iter_mut().zip(a) {
                    *d = (v >> 14).clamp(0, 255) as u8;
                }
            }
        }
        Ok(out)
    };
    let rows = pass(&px, w, h, channels, w * channels)?;
    drop(px); // Two frames at a time, as the footprint says.
    pass(&rows, h, w, w * channels, channels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights(r: u32, s: u32) -> Vec<i32> {
        Blur { r, s }.kernel()
    }

    #[test]
    fn the_seeds_kernels() {
        // s_10: σ = 11.15, kernels up to 31 wide by the seed's cut: r_3 is cut at 3, flat-ish.
        let k = weights(3, 10);
        assert_eq!(k.len(), 7);
        assert!(k[3] > k[0] && k[0] * 10 > k[3] * 9, "{k:?}");
        // r_50 is past what σ needs: gaussblur, cut where exp(−x²/2σ²) < 0.2 (|x| ≤ 1.79 σ).
        assert_eq!(weights(50, 10).len(), 2 * 20 + 1);
        // s_1 (σ = 1.10): a 3-tap gaussblur whatever r.
        assert_eq!(weights(5, 1).len(), 3);
        for (r, s) in [(1, 1), (3, 10), (50, 50), (25, 50)] {
            let sum: i32 = weights(r, s).iter().sum();
            assert!((sum - ONE).abs() <= weights(r, s).len() as i32, "r_{r},s_{s}: {sum}");
        }
    }

    #[test]
    fn a_flat_image_stays_flat_and_an_edge_spreads_as_wide_as_the_kernel() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_fn(40, 5, |x, _| {
            image::Rgb(if x < 20 { [0; 3] } else { [200; 3] })
        }));
        let later = Deadline::after(std::time::Duration::from_secs(60));
        let out = blur(img, &weights(3, 10), &later).unwrap().to_rgb8();
        let row: Vec<u8> = (0..40).map(|x| out.get_pixel(x, 2)[0]).collect();
        assert_eq!((row[16], row[23]), (0, 200), "{row:?}");
        assert!(row[17] > 0 && row[22] < 200 && row[19] < 100 && row[20] > 100, "{row:?}");
        let flat = DynamicImage::ImageRgba8(RgbaImage::from_pixel(9, 9, image::Rgba([10, 20, 30, 128])));
        assert_eq!(blur(flat, &weights(2, 5), &later).unwrap().to_rgba8().get_pixel(4, 4).0, [10, 20, 30, 128]);
        let past = Deadline::after(std::time::Duration::ZERO);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let big = DynamicImage::ImageRgb8(RgbImage::new(64, 64));
        assert_eq!(blur(big, &weights(50, 50), &past).unwrap_err().status, 503, "stopped at the deadline");
    }
}
