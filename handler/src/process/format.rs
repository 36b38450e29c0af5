//! `format,F`: the output format (the source's own when no action names one).

use super::{params::Params, Plan};
use crate::codec::Format;
use crate::error::Result;

pub fn parse(p: &mut Params, plan: &mut Plan) -> Result<()> {
    let raw = p.take_bare("format")?;
    let format = Format::from_name(raw)
        .ok_or_else(|| p.err(format!("must be one of jpg, jpeg, png, webp, gif, avif, bmp, tiff, got \"{raw}\"")))?;
    plan.output.format = Some(format);
    Ok(())
}
