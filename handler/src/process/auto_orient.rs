//! `auto-orient,0|1`: whether the EXIF orientation is applied at decode (the default is 1).

use super::{params::Params, Plan};
use crate::error::Result;

pub fn parse(p: &mut Params, plan: &mut Plan) -> Result<()> {
    if p.bare_int("auto-orient", 0..=1)? == 0 {
        plan.output.auto_orient = false;
    }
    Ok(())
}
