//! `average-hue`: the mean colour of the image as OSS's JSON `{"RGB": "0xRRGGBB"}`.

use super::{params::Params, Answer, Plan};
use crate::error::Result;
use image::DynamicImage;

pub fn parse(_: &mut Params, plan: &mut Plan) -> Result<()> {
    plan.answer = plan.answer.max(Answer::AverageHue);
    Ok(())
}

pub fn average_hue_json(img: &DynamicImage) -> String {
    let rgb = img.to_rgb8();
    let n = (rgb.width() as u64 * rgb.height() as u64).max(1);
    let mut sum = [0u64; 3];
    for px in rgb.pixels() {
        for (s, c) in sum.iter_mut().zip(px.0) {
            *s += c as u64;
        }
    }
    let [r, g, b] = sum.map(|s| ((s + n / 2) / n) as u8);
    format!("{{\"RGB\": \"0x{r:02x}{g:02x}{b:02x}\"}}")
}
