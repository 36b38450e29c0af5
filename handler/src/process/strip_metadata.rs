//! `strip-metadata`: accepted for OSS compatibility; the encoders never write metadata.

use super::{params::Params, Plan};
use crate::error::Result;

pub fn parse(_: &mut Params, _: &mut Plan) -> Result<()> {
    Ok(())
}
