//! `interlace,0|1`: a progressive JPEG (other formats are written as they always are).

use super::{params::Params, Plan};
use crate::error::Result;

pub fn parse(p: &mut Params, plan: &mut Plan) -> Result<()> {
    plan.output.progressive = p.bare_int("interlace", 0..=1)? == 1;
    Ok(())
}
