//! `threshold,N`: serve a source smaller than N bytes as it is, without processing it.

use super::{params::Params, Plan};
use crate::error::Result;

pub fn parse(p: &mut Params, plan: &mut Plan) -> Result<()> {
    let min = p.bare_int("threshold", 0..=i64::MAX)? as u64;
    plan.threshold.get_or_insert(min);
    Ok(())
}
