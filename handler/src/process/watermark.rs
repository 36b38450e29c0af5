//! `watermark`: text (with the bundled fonts), another stored image, or both side by side
//! (OSS's mixed mark: `order`, `align`, `interval`), placed by gravity and offset, at an
//! opacity, optionally tiled.

use super::crop::Gravity;
use super::rotate::rotate_any;
use super::{footprint::rgba_bytes, params::Params, Footprint, PixelStep, Step, StepContext};
use crate::error::{ProcessError, Result};
use crate::picture::Picture;
use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};
use image::{DynamicImage, Rgba, RgbaImage};

/// The fonts text is drawn with, for every `type`, in order: a character takes the first
/// that has it. DejaVu Sans (Latin, Greek, Cyrillic, symbols), then WenQuanYi Micro Hei cut
/// to GB2312's characters (Chinese, kana, full-width forms), as OSS draws Chinese by
/// default. Licences and how the cut was made: `assets/FONTS.md`.
const FONTS: [&[u8]; 2] =
    [include_bytes!("../../assets/DejaVuSans.ttf"), include_bytes!("../../assets/WenQuanYiMicroHei-GB2312.ttf")];

/// The longest text OSS takes, in characters once decoded (its error 0040-00000259).
pub const MAX_TEXT_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub enum Mark {
    Text(TextMark),
    Image(ImageMark),
    /// Text and image in one mark, side by side.
    Mixed {
        text: TextMark,
        image: ImageMark,
        /// `order,1`: the text on the left (`order,0`, the default: the image).
        text_first: bool,
        /// `align`: 0 top, 1 centre, 2 bottom, of the shorter part against the taller.
        align: u32,
        /// `interval`: pixels between the two.
        interval: u32,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct TextMark {
    pub text: String,
    pub color: [u8; 3],
    pub size: u32,
    pub shadow: u32,
    pub rotate: u32,
    /// Tile the mark over the whole picture.
    pub fill: bool,
}

/// A stored object, with its own optional process and `P` (percent of the main image).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageMark {
    pub key: String,
    pub process: Option<String>,
    pub percent: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Watermark {
    pub mark: Mark,
    pub opacity: u32,
    pub g: Gravity,
    pub x: u32,
    pub y: u32,
    pub voffset: i32,
}

impl PixelStep for Watermark {
    fn parse(p: &mut Params) -> Result<Self> {
        let opacity = p.take_u32("t", 0..=100)?.unwrap_or(100);
        let g = Gravity::take(p)?.unwrap_or(Gravity::SE);
        let x = p.take_u32("x", 0..=4096)?.unwrap_or(10);
        let y = p.take_u32("y", 0..=4096)?.unwrap_or(10);
        let voffset = p.take_int("voffset", -1000..=1000)?.unwrap_or(0) as i32;
        let image = p.take_base64("image")?;
        let text = p.take_base64("text")?;
        let _font_name = p.take_base64("type")?;
        let color = p.take_color("color")?.unwrap_or([0, 0, 0]);
        let size = p.take_u32("size", 1..=1000)?.unwrap_or(40);
        let shadow = p.take_u32("shadow", 0..=100)?.unwrap_or(0);
        let rotate = p.take_u32("rotate", 0..=360)?.unwrap_or(0);
        let fill = p.take_flag("fill")?.unwrap_or(false);
        let text_first = p.take_u32("order", 0..=1)?.unwrap_or(0) == 1;
        let align = p.take_u32("align", 0..=2)?.unwrap_or(0);
        let interval = p.take_u32("interval", 0..=1000)?.unwrap_or(0);
        if text.as_ref().is_some_and(|t| t.chars().count() > MAX_TEXT_CHARS) {
            return Err(p.err(format!("text must be at most {MAX_TEXT_CHARS} characters once decoded")));
        }
        let text = text.filter(|t| !t.is_empty()).map(|text| TextMark { text, color, size, shadow, rotate, fill });
        let image = image.map(|spec| image_mark(&spec).map_err(|m| p.err(m))).transpose()?;
        let mark = match (text, image) {
            (Some(text), None) => Mark::Text(text),
            (None, Some(image)) => Mark::Image(image),
            (Some(text), Some(image)) => Mark::Mixed { text, image, text_first, align, interval },
            (None, None) => return Err(p.err("needs text, image or both (URL-safe base64)")),
        };
        Ok(Watermark { mark, opacity, g, x, y, voffset })
    }

    /// Blended in place (a grey frame widened first); the mark is checked as it is made.
    fn footprint(&self, pic: &Picture) -> Option<Footprint> {
        Some(Footprint::same(pic, 0))
    }

    fn apply(&self, pic: &mut Picture, ctx: &StepContext) -> Result<()> {
        let (w, h) = (pic.width(), pic.height());
        let mut mark = self.render(w, &ctx.holding(pic))?;
        if self.opacity < 100 {
            for px in mark.pixels_mut() {
                px.0[3] = (px.0[3] as u32 * self.opacity / 100) as u8;
            }
        }
        let tile = match &self.mark {
            Mark::Text(t) | Mark::Mixed { text: t, .. } => t.fill,
            Mark::Image(_) => false,
        };
        let single = self.position(w, h, &mark);
        pic.map(|mut f| {
            if tile {
                for (x, y) in tiles(w, h, &mark) {
                    blend(&mut f, &mark, x, y);
                }
            } else {
                blend(&mut f, &mark, single.0, single.1);
            }
            f
        });
        Ok(())
    }
}

/// `logo.png?x-oss-process=image/resize,P_20` → key, process without `P`, and `P`.
fn image_mark(spec: &str) -> std::result::Result<ImageMark, String> {
    let (key, process) = match spec.split_once("?x-oss-process=") {
        Some((k, p)) => (k, Some(p)),
        None => (spec, None),
    };
    if key.is_empty() {
        return Err("image names an empty key".into());
    }
    let mut percent = None;
    let mut bad_percent = None;
    let process = process.map(|p| {
        p.split('/')
            .map(|seg| {
                let parts: Vec<&str> = seg
                    .split(',')
                    .filter(|part| match part.strip_prefix("P_") {
                        Some(v) => {
                            percent = v.parse::<u32>().ok().filter(|v| (1..=100).contains(v));
                            bad_percent = percent.is_none().then(|| v.to_string());
                            false
                        }
                        None => true,
                    })
                    .collect();
                parts.join(",")
            })
            .filter(|seg| seg != "resize")
            .collect::<Vec<_>>()
            .join("/")
    });
    if let Some(v) = bad_percent {
        return Err(format!("image process: P must be an integer in 1..=100, got \"{v}\""));
    }
    let process = process.filter(|p| !p.trim_start_matches("image").trim_matches('/').is_empty());
    if let Some(p) = &process {
        super::parse(p).map_err(|e| format!("image process: {}", e.message))?;
    }
    Ok(ImageMark { key: key.to_string(), process, percent })
}

impl Watermark {
    /// The key of the stored image this watermark needs fetched before processing.
    pub fn image_key(&self) -> Option<&str> {
        match &self.mark {
            Mark::Image(image) | Mark::Mixed { image, .. } => Some(&image.key),
            Mark::Text(_) => None,
        }
    }

    /// The mark, each canvas checked against the budget (`ctx` holds the main picture)
    /// before it is allocated. Its sides are not limited: it is clipped to the picture.
    fn render(&self, main_width: u32, ctx: &StepContext) -> Result<RgbaImage> {
        match &self.mark {
            Mark::Text(text) => text.render(ctx),
            Mark::Image(image) => image.render(main_width, ctx),
            Mark::Mixed { text, image, text_first, align, interval } => {
                let text = text.render(ctx)?;
                let held = StepContext { held: ctx.held + rgba_bytes(text.width(), text.height()), ..*ctx };
                let image = image.render(main_width, &held)?;
                let (left, right) = if *text_first { (&text, &image) } else { (&image, &text) };
                let w = left.width() + interval + right.width();
                let h = left.height().max(right.height());
                let parts = rgba_bytes(text.width(), text.height()) + rgba_bytes(image.width(), image.height());
                ctx.limits.check_working_set("watermark", ctx.held + parts + rgba_bytes(w, h))?;
                let mut mark = RgbaImage::new(w, h);
                let top = |part: &RgbaImage| match align {
                    0 => 0,
                    1 => (h - part.height()) / 2,
                    _ => h - part.height(),
                };
                image::imageops::overlay(&mut mark, left, 0, top(left) as i64);
                image::imageops::overlay(&mut mark, right, (left.width() + interval) as i64, top(right) as i64);
                Ok(mark)
            }
        }
    }

    /// Top-left corner of the mark: gravity picks the anchor, x/y pull it in from the
    /// edges it touches, voffset moves a vertically centred mark up.
    fn position(&self, w: u32, h: u32, mark: &RgbaImage) -> (i64, i64) {
        let (w, h, mw, mh) = (w as i64, h as i64, mark.width() as i64, mark.height() as i64);
        let (x, y) = (self.x as i64, self.y as i64);
        let px = match self.g.0 {
            0 => x,
            1 => (w - mw) / 2,
            _ => w - mw - x,
        };
        let py = match self.g.1 {
            0 => y,
            1 => (h - mh) / 2 - self.voffset as i64,
            _ => h - mh - y,
        };
        (px, py)
    }
}

impl TextMark {
    /// The text laid out, drawn and turned, each canvas checked before it is allocated.
    fn render(&self, ctx: &StepContext) -> Result<RgbaImage> {
        let text = TextLine::lay_out(&self.text, self.size, self.shadow);
        let (w, h) = text.size;
        let turn = super::rotate::Rotate(self.rotate);
        let (rw, rh) = turn.output_size(w, h);
        let turned = if turn.0 % 360 == 0 { 0 } else { rgba_bytes(rw, rh) };
        ctx.limits.check_working_set("watermark", ctx.held + rgba_bytes(w, h) + turned)?;
        let img = text.draw(self.color, self.shadow);
        Ok(if turned == 0 { img } else { rotate_any(&img, self.rotate as f64, Rgba([0, 0, 0, 0])) })
    }
}

impl ImageMark {
    /// The stored image, decoded within the budget left, its own process applied, scaled
    /// to `P` percent of the main picture's width.
    fn render(&self, main_width: u32, ctx: &StepContext) -> Result<RgbaImage> {
        let key = &self.key;
        let mut pic = (ctx.watermarks)(key, ctx.held).ok_or_else(|| {
            ProcessError::invalid(format!("watermark: the image \"{key}\" does not exist or is not an image"))
        })??;
        if let Some(p) = &self.process {
            // A mark is one still frame, and is not marked itself.
            let own = |s: &&Step| !matches!(s, Step::Watermark(_) | Step::Cgif(_));
            for step in super::parse(p)?.steps.iter().filter(own) {
                step.apply(&mut pic, ctx)?;
            }
        }
        if let Some(p) = self.percent {
            let w = (main_width * p / 100).max(1);
            let h = ((pic.height() as u64 * w as u64) / pic.width().max(1) as u64).max(1) as u32;
            let mut one = Picture::still(pic.frames.swap_remove(0));
            let scratch = rgba_bytes(w, one.height());
            ctx.reserve("watermark: image", &one, Footprint { out: (w, h), scratch })?;
            pic = Picture::still(super::resize::resample(one.frames.swap_remove(0), w, h)?);
        }
        Ok(pic.frames.swap_remove(0).into_rgba8())
    }
}

/// Positions that tile the mark over the whole image, with a gap of half its size.
fn tiles(w: u32, h: u32, mark: &RgbaImage) -> impl Iterator<Item = (i64, i64)> {
    let step_x = (mark.width() + mark.width() / 2).max(1) as usize;
    let step_y = (mark.height() + mark.height() / 2).max(1) as usize;
    (0..h as i64).step_by(step_y).flat_map(move |y| (0..w as i64).step_by(step_x).map(move |x| (x, y)))
}

/// One line of text laid out (glyphs placed, canvas sized) before anything is drawn.
struct TextLine {
    fonts: Vec<FontRef<'static>>,
    /// Each glyph with the index of its font.
    glyphs: Vec<(usize, ab_glyph::Glyph)>,
    /// The drop shadow's offset, 0 without one.
    offset: u32,
    size: (u32, u32),
}

impl TextLine {
    fn lay_out(text: &str, size: u32, shadow: u32) -> Self {
        let fonts: Vec<FontRef<'static>> =
            FONTS.iter().map(|f| FontRef::try_from_slice(f).expect("the bundled fonts parse")).collect();
        let scale = PxScale::from(size as f32);
        let scaled: Vec<_> = fonts.iter().map(|f| f.as_scaled(scale)).collect();
        // Each character from the first font that has it, else the first font's missing-glyph box.
        let picked: Vec<(usize, ab_glyph::GlyphId)> = text
            .chars()
            .filter(|c| !c.is_control())
            .map(|c| {
                let mut found = scaled.iter().map(|f| f.glyph_id(c)).enumerate().filter(|(_, id)| id.0 != 0);
                found.next().unwrap_or((0, scaled[0].glyph_id(c)))
            })
            .collect();
        // One baseline, below the highest ascent of the fonts the line uses.
        let used = |i: &usize| picked.is_empty() && *i == 0 || picked.iter().any(|(p, _)| p == i);
        let ascent = (0..fonts.len()).filter(used).map(|i| scaled[i].ascent()).fold(0.0, f32::max);
        let descent = (0..fonts.len()).filter(used).map(|i| scaled[i].descent()).fold(0.0, f32::min);
        let mut glyphs = Vec::with_capacity(picked.len());
        let mut caret = 0.0f32;
        let mut prev: Option<(usize, ab_glyph::GlyphId)> = None;
        for (i, id) in picked {
            if let Some((pi, pid)) = prev.filter(|(pi, _)| *pi == i) {
                caret += scaled[pi].kern(pid, id);
            }
            glyphs.push((i, id.with_scale_and_position(scale, point(caret, ascent))));
            caret += scaled[i].h_advance(id);
            prev = Some((i, id));
        }
        let offset = if shadow > 0 { (size / 20).max(1) } else { 0 };
        let width = (caret.ceil() as u32).max(1) + offset;
        let height = ((ascent - descent).ceil() as u32).max(1) + offset;
        Self { fonts, glyphs, offset, size: (width, height) }
    }

    /// The line in `color`, with a drop shadow of `shadow` percent opacity.
    fn draw(&self, [r, g, b]: [u8; 3], shadow: u32) -> RgbaImage {
        let (width, height) = self.size;
        let mut img = RgbaImage::new(width, height);
        let layers: &[(u32, [u8; 3], u32)] = &[(self.offset, [0, 0, 0], shadow * 255 / 100), (0, [r, g, b], 255)];
        for &(shift, rgb, alpha) in layers.iter().filter(|l| l.2 > 0) {
            for (font, glyph) in &self.glyphs {
                let Some(outlined) = self.fonts[*font].outline_glyph(glyph.clone()) else {
                    continue;
                };
                let bounds = outlined.px_bounds();
                outlined.draw(|gx, gy, coverage| {
                    let x = gx as i64 + bounds.min.x as i64 + shift as i64;
                    let y = gy as i64 + bounds.min.y as i64 + shift as i64;
                    if x < 0 || y < 0 || x >= width as i64 || y >= height as i64 {
                        return;
                    }
                    let a = (coverage * alpha as f32).round() as u8;
                    let px = img.get_pixel_mut(x as u32, y as u32);
                    *px = over(Rgba([rgb[0], rgb[1], rgb[2], a]), *px);
                });
            }
        }
        img
    }
}

/// Porter-Duff "over" of two straight-alpha pixels.
fn over(top: Rgba<u8>, bottom: Rgba<u8>) -> Rgba<u8> {
    let ta = top.0[3] as f32 / 255.0;
    let ba = bottom.0[3] as f32 / 255.0;
    let oa = ta + ba * (1.0 - ta);
    if oa <= 0.0 {
        return Rgba([0, 0, 0, 0]);
    }
    let channel = |i: usize| {
        let c = (top.0[i] as f32 * ta + bottom.0[i] as f32 * ba * (1.0 - ta)) / oa;
        c.round().clamp(0.0, 255.0) as u8
    };
    Rgba([channel(0), channel(1), channel(2), (oa * 255.0).round() as u8])
}

/// Draws `mark` over `frame` with its top-left at (x, y), clipped to the frame.
fn blend(frame: &mut DynamicImage, mark: &RgbaImage, x: i64, y: i64) {
    if !matches!(frame, DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_)) {
        *frame = if frame.color().has_alpha() {
            DynamicImage::ImageRgba8(frame.to_rgba8())
        } else {
            DynamicImage::ImageRgb8(frame.to_rgb8())
        };
    }
    let (fw, fh) = (frame.width() as i64, frame.height() as i64);
    for (mx, my, m) in mark.enumerate_pixels() {
        let (fx, fy) = (x + mx as i64, y + my as i64);
        if m.0[3] == 0 || fx < 0 || fy < 0 || fx >= fw || fy >= fh {
            continue;
        }
        let (fx, fy) = (fx as u32, fy as u32);
        match frame {
            DynamicImage::ImageRgb8(f) => {
                let p = f.get_pixel_mut(fx, fy);
                let o = over(*m, Rgba([p.0[0], p.0[1], p.0[2], 255]));
                p.0 = [o.0[0], o.0[1], o.0[2]];
            }
            DynamicImage::ImageRgba8(f) => {
                let p = f.get_pixel_mut(fx, fy);
                *p = over(*m, *p);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_spec_splits_out_percent() {
        let m = image_mark("logo.png?x-oss-process=image/resize,P_20").unwrap();
        assert_eq!(m, ImageMark { key: "logo.png".into(), process: None, percent: Some(20) });
        let m = image_mark("logo.png?x-oss-process=image/resize,P_20/rotate,90").unwrap();
        assert_eq!(m, ImageMark { key: "logo.png".into(), process: Some("image/rotate,90".into()), percent: Some(20) });
    }

    #[test]
    fn text_renders_ink() {
        let img = TextLine::lay_out("Hello", 40, 50).draw([255, 0, 0], 50);
        assert!(img.width() > 60 && img.height() >= 40);
        assert!(img.pixels().any(|p| p.0 == [255, 0, 0, 255]));
    }

    #[test]
    fn chinese_text_draws_its_own_glyphs_on_one_baseline() {
        let draw = |text: &str| TextLine::lay_out(text, 40, 0).draw([0, 0, 0], 0);
        let ink = |img: &RgbaImage| img.pixels().filter(|p| p.0[3] > 128).count();
        // Two characters DejaVu lacks: with no fallback both would be the same missing-glyph box.
        let (zhong, guo) = (draw("中"), draw("国"));
        assert_ne!(zhong.as_raw(), guo.as_raw());
        assert_ne!(zhong.as_raw(), draw("\u{E000}").as_raw(), "a private-use character has no glyph anywhere");
        assert!(ink(&zhong) > 100 && ink(&guo) > 100);
        // Latin text keeps DejaVu's own height; mixed text is as tall as its tallest font needs.
        assert_eq!(draw("Hello").height(), TextLine::lay_out("Hello", 40, 0).size.1);
        let mixed = draw("Hello 世界");
        assert!(mixed.width() > draw("Hello").width() + 60, "{}", mixed.width());
        assert!(mixed.height() >= zhong.height().max(draw("Hello").height()));
    }
}
