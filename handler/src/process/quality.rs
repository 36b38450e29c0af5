//! `quality,q_N` (relative to the source's own JPEG quality) or `quality,Q_N` (absolute).

use super::{params::Params, Plan, Quality};
use crate::error::Result;

pub fn parse(p: &mut Params, plan: &mut Plan) -> Result<()> {
    let rel = p.take_u32("q", 1..=100)?;
    let abs = p.take_u32("Q", 1..=100)?;
    let quality = match (abs, rel) {
        (Some(q), _) => Quality::Absolute(q as u8),
        (None, Some(q)) => Quality::Relative(q as u8),
        (None, None) => return Err(p.err("needs q (relative) or Q (absolute), 1..=100")),
    };
    plan.output.quality = Some(quality);
    Ok(())
}
