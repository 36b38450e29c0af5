//! `crop`: a rectangle anchored by gravity (one of nine places) plus an offset.

use super::{params::Params, Footprint, PixelStep, StepContext};
use crate::error::{ProcessError, Result};
use crate::picture::Picture;

/// A cell of the 3×3 grid OSS calls gravity: (column, row), each 0..=2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gravity(pub u32, pub u32);

impl Gravity {
    pub const NW: Gravity = Gravity(0, 0);
    pub const SE: Gravity = Gravity(2, 2);

    pub fn parse(raw: &str) -> Option<Gravity> {
        Some(match raw {
            "nw" => Gravity(0, 0),
            "north" => Gravity(1, 0),
            "ne" => Gravity(2, 0),
            "west" => Gravity(0, 1),
            "center" => Gravity(1, 1),
            "east" => Gravity(2, 1),
            "sw" => Gravity(0, 2),
            "south" => Gravity(1, 2),
            "se" => Gravity(2, 2),
            _ => return None,
        })
    }

    pub fn take(p: &mut Params) -> Result<Option<Gravity>> {
        match p.take("g") {
            None => Ok(None),
            Some(raw) => Gravity::parse(raw).map(Some).ok_or_else(|| {
                p.err(format!("g must be one of nw, north, ne, west, center, east, sw, south, se, got \"{raw}\""))
            }),
        }
    }
}

/// (x, y, width, height).
pub type Rect = (u32, u32, u32, u32);

#[derive(Debug, Clone, PartialEq)]
pub struct Crop {
    pub w: Option<u32>,
    pub h: Option<u32>,
    pub x: u32,
    pub y: u32,
    pub g: Gravity,
}

impl PixelStep for Crop {
    fn parse(p: &mut Params) -> Result<Self> {
        if p.is_empty() {
            return Err(p.err("needs at least one of w, h, x, y or g, e.g. crop,x_100,y_50"));
        }
        Ok(Crop {
            w: p.take_u32("w", 1..=16384)?,
            h: p.take_u32("h", 1..=16384)?,
            // Up to the widest source taken (OSS: up to the image's edge).
            x: p.take_u32("x", 0..=30000)?.unwrap_or(0),
            y: p.take_u32("y", 0..=30000)?.unwrap_or(0),
            g: Gravity::take(p)?.unwrap_or(Gravity::NW),
        })
    }

    /// `None` for an origin outside the image: `apply` refuses it before allocating.
    fn footprint(&self, pic: &Picture) -> Option<Footprint> {
        let ((_, _, w, h), _) = self.place(pic).ok()?;
        Some(Footprint { out: (w, h), scratch: 0 })
    }

    fn apply(&self, pic: &mut Picture, _: &StepContext) -> Result<()> {
        let ((x, y, w, h), logical) = self.place(pic)?;
        let scaled = pic.logical_size.is_some();
        pic.map(|f| f.crop_imm(x, y, w, h));
        if scaled {
            pic.logical_size = Some(logical);
        }
        Ok(())
    }
}

impl Crop {
    /// The rectangle in the picture's pixels, and its size in the source's. After a scaled
    /// decode (crop, then resize) the rectangle is placed in the source's coordinates and
    /// scaled with the picture, and the resize plans from its source size, so the output
    /// has the size a full decode gives.
    fn place(&self, pic: &Picture) -> Result<(Rect, (u32, u32))> {
        let (lw, lh) = pic.planning_size();
        let (x, y, w, h) = self.rect(lw, lh)?;
        let (pw, ph) = (pic.width(), pic.height());
        let scale = |v: u32, to: u32, from: u32| (v as u64 * to as u64 / from as u64) as u32;
        let (px, py) = (scale(x, pw, lw), scale(y, ph, lh));
        let right = scale(x + w, pw, lw).max(px + 1).min(pw);
        let bottom = scale(y + h, ph, lh).max(py + 1).min(ph);
        Ok(((px, py, right - px, bottom - py), (w, h)))
    }

    /// The rectangle (x, y, w, h) within a `iw`×`ih` image.
    /// OSS's origins (its custom-crop page, "srcW/2 - w/2, 0" for `north`, "srcW - w,
    /// srcH - h" for `se`, …): the rectangle against the edge or centred on the axis, then
    /// moved by the offset. (The seed instead starts at a corner of a 3×3 grid's cell; where
    /// the two differ, OSS's documentation is what this follows.)
    pub fn rect(&self, iw: u32, ih: u32) -> Result<Rect> {
        let anchor = |cell: u32, image: u32, size: u32| match cell {
            0 => 0,
            1 => (image / 2).saturating_sub(size / 2),
            _ => image.saturating_sub(size),
        };
        let x = anchor(self.g.0, iw, self.w.unwrap_or(iw)) + self.x;
        let y = anchor(self.g.1, ih, self.h.unwrap_or(ih)) + self.y;
        if x >= iw || y >= ih {
            return Err(ProcessError::invalid(format!("crop: the origin ({x}, {y}) is outside the {iw}x{ih} image")));
        }
        let w = self.w.unwrap_or(iw).min(iw - x);
        let h = self.h.unwrap_or(ih).min(ih - y);
        Ok((x, y, w, h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(s: &str, w: u32, h: u32) -> Result<Rect> {
        Crop::parse(&mut Params::new("crop", s.split(',')))?.rect(w, h)
    }

    #[test]
    fn gravity_anchors_the_rectangle_as_oss_documents() {
        assert_eq!(rect("w_100,h_100", 400, 300).unwrap(), (0, 0, 100, 100));
        assert_eq!(rect("w_100,h_100,g_center", 400, 300).unwrap(), (150, 100, 100, 100));
        assert_eq!(rect("w_100,h_100,g_north", 400, 300).unwrap(), (150, 0, 100, 100));
        assert_eq!(rect("w_100,h_100,g_se", 400, 300).unwrap(), (300, 200, 100, 100));
        assert_eq!(rect("w_100,h_80,g_east", 400, 300).unwrap(), (300, 110, 100, 80));
        // The offset moves it on; what passes the edge is cut off.
        assert_eq!(rect("w_100,h_100,g_se,x_10,y_10", 400, 300).unwrap(), (310, 210, 90, 90));
        // Without a size the rectangle is the whole image, so every anchor is the corner.
        assert_eq!(rect("g_se,x_100,y_50", 400, 300).unwrap(), (100, 50, 300, 250));
        assert_eq!(rect("x_100,y_50", 400, 300).unwrap(), (100, 50, 300, 250));
    }

    #[test]
    fn origin_past_the_edge_is_an_error() {
        assert!(rect("x_400", 400, 300).is_err());
        assert!(rect("y_300,w_10", 400, 300).is_err());
    }
}
