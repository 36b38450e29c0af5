//! `threshold,N`: serve a source smaller than N bytes as it is, without processing it.

use super::{params::Params, Plan};
use crate::error::Result;

pub fn parse(p: &mut Params, plan: &mut Plan) -> Result<()> {
    // Zero would serve nothing as it is; the seed system refuses it too.
    let min = p.bare_int("threshold", 1..=i64::MAX)? as u64;
    plan.threshold.get_or_insert(min);
    Ok(())
}
