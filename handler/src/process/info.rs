//! `info`: answer the source's size and format as OSS's JSON instead of an image.

use super::{params::Params, Answer, Plan};
use crate::error::Result;

pub fn parse(_: &mut Params, plan: &mut Plan) -> Result<()> {
    plan.answer = plan.answer.max(Answer::Info);
    Ok(())
}
